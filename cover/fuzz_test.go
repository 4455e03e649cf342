package cover

import (
	"encoding/binary"
	"math"
	"testing"
)

// FuzzKSTwoSample feeds arbitrary float64 values (NaNs, infinities, ties
// included) to KSTwoSample: it must not panic and must return a statistic
// in [0, 1], a p-value in [0, 1], and the same answer with the samples
// swapped.
func FuzzKSTwoSample(f *testing.F) {
	f.Add([]byte{}, uint8(0))
	f.Add(floats(1, 2, 3, 4, 5, 6), uint8(3))
	f.Add(floats(math.NaN(), math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), 1e308), uint8(2))
	f.Add(floats(1, 1, 1, 1, 2, 2), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		var all []float64
		for len(data) >= 8 {
			all = append(all, math.Float64frombits(binary.LittleEndian.Uint64(data)))
			data = data[8:]
		}
		k := min(int(split), len(all))
		a, b := all[:k], all[k:]
		d, p := KSTwoSample(a, b)
		if !(d >= 0 && d <= 1) || !(p >= 0 && p <= 1) {
			t.Fatalf("d=%v p=%v", d, p)
		}
		if d2, p2 := KSTwoSample(b, a); d2 != d || p2 != p {
			t.Fatalf("not symmetric")
		}
	})
}

func floats(v ...float64) []byte {
	b := make([]byte, 0, 8*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	return b
}
