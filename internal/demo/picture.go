package demo

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand/v2"
)

// Picture draws a landscape — sky, sun, hills, a rippled lake — and encodes
// it as a JPEG of about size bytes (within a tenth), choosing the quality
// that gets closest. Fine grain keeps it from compressing to nothing, as a
// photo would not.
func Picture(size int) ([]byte, error) {
	const w, h = 720, 480
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(7, 11)) // the same picture every run
	for y := range h {
		for x := range w {
			fx, fy := float64(x)/w, float64(y)/h
			var r, g, b float64
			hill := 0.55 + 0.08*math.Sin(fx*9) + 0.04*math.Sin(fx*23+1)
			switch {
			case fy < hill: // sky, with a sun
				r, g, b = 120+100*fy, 170+60*fy, 235
				if d := math.Hypot(fx-0.72, fy-0.22); d < 0.07 {
					r, g, b = 255, 236, 160
				}
			case fy < 0.68: // hills
				r, g, b = 40+30*fy, 110-40*fy, 50
			default: // lake, rippled
				ripple := 12 * math.Sin(fx*80+fy*40)
				r, g, b = 40+ripple, 90+ripple, 150+20*fy
			}
			n := rng.NormFloat64() * 9
			img.Set(x, y, color.RGBA{clamp(r + n), clamp(g + n), clamp(b + n), 255})
		}
	}
	var best []byte
	for q := 40; q <= 100; q += 3 {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
			return nil, err
		}
		if best == nil || abs(buf.Len()-size) < abs(len(best)-size) {
			best = buf.Bytes()
		}
	}
	if abs(len(best)-size) > size/10 {
		return nil, fmt.Errorf("demo: the picture is %d bytes, wanted about %d", len(best), size)
	}
	return best, nil
}

func clamp(v float64) uint8 { return uint8(max(0, min(255, v))) }

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
