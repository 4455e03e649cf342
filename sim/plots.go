package sim

import (
	"fmt"
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Plot size of every PNG.
const plotW, plotH = 7 * vg.Inch, 4.5 * vg.Inch

// palette is eight colours told apart easily (Tableau 10's first eight).
var palette = []color.Color{
	color.RGBA{R: 0x4e, G: 0x79, B: 0xa7, A: 255}, color.RGBA{R: 0xf2, G: 0x8e, B: 0x2b, A: 255},
	color.RGBA{R: 0xe1, G: 0x57, B: 0x59, A: 255}, color.RGBA{R: 0x76, G: 0xb7, B: 0xb2, A: 255},
	color.RGBA{R: 0x59, G: 0xa1, B: 0x4f, A: 255}, color.RGBA{R: 0xed, G: 0xc9, B: 0x48, A: 255},
	color.RGBA{R: 0xb0, G: 0x7a, B: 0xa1, A: 255}, color.RGBA{R: 0x9c, G: 0x75, B: 0x5f, A: 255},
}

func colour(i int) color.Color { return palette[i%len(palette)] }

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	return p
}

// savePlot writes a plot as PNG. gonum/plot panics on some degenerate
// data (a log axis over a zero); that becomes an error, not a crash.
func savePlot(p *plot.Plot, path string) (err error) {
	defer recoverPlot(&err, path)
	if err := p.Save(plotW, plotH, path); err != nil {
		return fmt.Errorf("sim: plot %s: %w", path, err)
	}
	return nil
}

// finite drops NaN and infinite values.
func finite(v []float64) []float64 {
	out := make([]float64, 0, len(v))
	for _, x := range v {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			out = append(out, x)
		}
	}
	return out
}

// cdfXYs is the empirical distribution function of v.
func cdfXYs(v []float64) plotter.XYs {
	s := sortedCopy(finite(v))
	// At most 2000 points: a CDF needs no more to look right.
	step := max(1, len(s)/2000)
	var xy plotter.XYs
	for i := 0; i < len(s); i += step {
		xy = append(xy, plotter.XY{X: s[i], Y: float64(i+1) / float64(len(s))})
	}
	if n := len(s); n > 0 && (n-1)%step != 0 {
		xy = append(xy, plotter.XY{X: s[n-1], Y: 1})
	}
	return xy
}

func addLine(p *plot.Plot, name string, xy plotter.XYs, i int, dashed bool) error {
	if len(xy) == 0 {
		return nil
	}
	l, err := plotter.NewLine(xy)
	if err != nil {
		return err
	}
	l.Color = colour(i)
	l.Width = vg.Points(1.5)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	}
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

func addPoints(p *plot.Plot, name string, xy plotter.XYs, i int) error {
	if len(xy) == 0 {
		return nil
	}
	s, err := plotter.NewScatter(xy)
	if err != nil {
		return err
	}
	s.Color = colour(i)
	s.Shape = plotutil.Shape(i)
	s.Radius = vg.Points(3)
	p.Add(s)
	p.Legend.Add(name, s)
	return nil
}

func vline(p *plot.Plot, name string, x, y0, y1 float64, i int) error {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return addLine(p, name, plotter.XYs{{X: x, Y: y0}, {X: x, Y: y1}}, i, true)
}

// plotMixEntropy draws each mix's mean entropy against log2(e·λ/μ).
func plotMixEntropy(r *Result, path string) (err error) {
	defer recoverPlot(&err, path)
	p := newPlot("Per-mix entropy (Loopix/Danezis method)", "mix (node index; layers left to right)", "entropy (bits)")
	var meas, theory, sender, comp plotter.XYs
	for _, m := range r.Mixes {
		x := float64(m.Node)
		if !math.IsNaN(float64(m.Entropy)) {
			if m.Compromised {
				comp = append(comp, plotter.XY{X: x, Y: 0})
			} else {
				meas = append(meas, plotter.XY{X: x, Y: float64(m.Entropy)})
			}
		}
		if !math.IsNaN(float64(m.Theory)) {
			theory = append(theory, plotter.XY{X: x, Y: float64(m.Theory)})
		}
		if !math.IsNaN(float64(m.SenderH)) && !m.Compromised {
			sender = append(sender, plotter.XY{X: x, Y: float64(m.SenderH)})
		}
	}
	p.Y.Min = 0
	top := 0.0
	for _, xy := range [...]plotter.XYs{meas, theory, sender} {
		for _, q := range xy {
			top = max(top, q.Y)
		}
	}
	p.Y.Max = 1.15*top + 0.5
	p.Legend.Top = false // the points sit near the top
	for i, e := range []error{
		addPoints(p, "measured H over inputs", meas, 0),
		addPoints(p, "log2(e·λ/μ), λ measured", theory, 1),
		addPoints(p, "H over the inputs' senders", sender, 2),
		addPoints(p, "compromised (reveals its mixing)", comp, 3),
	} {
		if e != nil {
			return fmt.Errorf("sim: plot %d: %w", i, e)
		}
	}
	return savePlot(p, path)
}

// plotHist draws a histogram of v (shares of the samples) with an
// optional marker line. The bins are made here: gonum's NewHist panics
// when rounding puts the largest value past its last bin.
func plotHist(title, x string, v []float64, bins int, mark float64, markName, path string) (err error) {
	defer recoverPlot(&err, path)
	p := newPlot(title, x, "share of samples")
	v = finite(v)
	if len(v) > 0 {
		lo, hi := v[0], v[0]
		for _, x := range v {
			lo, hi = min(lo, x), max(hi, x)
		}
		if hi == lo {
			lo, hi = lo-0.5, hi+0.5
		}
		w := (hi - lo) / float64(bins)
		h := &plotter.Histogram{Width: w, FillColor: color.RGBA{R: 90, G: 140, B: 200, A: 255}, LineStyle: plotter.DefaultLineStyle}
		for i := range bins {
			h.Bins = append(h.Bins, plotter.HistogramBin{Min: lo + float64(i)*w, Max: lo + float64(i+1)*w})
		}
		for _, x := range v {
			i := min(int((x-lo)/w), bins-1)
			h.Bins[max(i, 0)].Weight += 1 / float64(len(v))
		}
		p.Add(h)
		top := 0.0
		for _, b := range h.Bins {
			top = max(top, b.Weight)
		}
		if markName != "" {
			if err := vline(p, markName, mark, 0, top, 1); err != nil {
				return err
			}
		}
	}
	return savePlot(p, path)
}

// recoverPlot turns a panic inside gonum/plot into an error.
func recoverPlot(err *error, path string) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("sim: plot %s: %v", path, r)
	}
}

// plotCDFs draws empirical distribution functions.
func plotCDFs(title, x string, names []string, series [][]float64, logX bool, path string) (err error) {
	defer recoverPlot(&err, path)
	p := newPlot(title, x, "share ≤ x")
	p.Legend.Left = true // a distribution function leaves the top left empty
	empty := true
	for i, s := range series {
		v := finite(s)
		if logX {
			v = slices.DeleteFunc(v, func(x float64) bool { return x <= 0 })
		}
		empty = empty && len(v) == 0
		if err := addLine(p, names[i], cdfXYs(v), i, false); err != nil {
			return fmt.Errorf("sim: plot %s: %w", path, err)
		}
	}
	if empty {
		p.Title.Text += " (no data)"
	} else if logX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	p.Y.Min, p.Y.Max = 0, 1
	return savePlot(p, path)
}

// plotDisclosure draws the share of the targets' friends the attack ranks
// in their top m over observation time, with and without cover.
func plotDisclosure(ds DisclosureSummary, path string) (err error) {
	defer recoverPlot(&err, path)
	p := newPlot("Statistical disclosure attack", "observation (s)", "share of friends in the top m (mean over targets)")
	for i, d := range []*Disclosure{ds.Run, ds.NoCover} {
		if d == nil || len(d.Times) == 0 {
			continue
		}
		var xy plotter.XYs
		for k, t := range d.Times {
			xy = append(xy, plotter.XY{X: t, Y: mean(d.Fraction[k])})
		}
		name := "cover on"
		if !d.Cover {
			name = "cover off"
		}
		if err := addLine(p, name, xy, i, false); err != nil {
			return err
		}
	}
	p.Y.Min, p.Y.Max = 0, 1.05
	return savePlot(p, path)
}

// plotBars draws one bar per label.
func plotBars(title, y string, labels []string, values []float64, path string) (err error) {
	defer recoverPlot(&err, path)
	p := newPlot(title, "", y)
	vals := make(plotter.Values, len(values))
	copy(vals, values)
	if len(vals) > 0 {
		b, err := plotter.NewBarChart(vals, vg.Points(20))
		if err != nil {
			return fmt.Errorf("sim: plot %s: %w", path, err)
		}
		b.Color = colour(0)
		p.Add(b)
		p.NominalX(labels...)
	}
	p.Y.Min = 0
	return savePlot(p, path)
}

// plotSweep draws named series against the swept parameter.
func plotSweep(title, x, y string, xs []float64, names []string, series [][]float64, path string) (err error) {
	defer recoverPlot(&err, path)
	p := newPlot(title, x, y)
	for i, s := range series {
		var xy plotter.XYs
		for k, v := range s {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				xy = append(xy, plotter.XY{X: xs[k], Y: v})
			}
		}
		if len(xy) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(xy)
		if err != nil {
			return fmt.Errorf("sim: plot %s: %w", path, err)
		}
		l.Color, pts.Color, pts.Shape = colour(i), colour(i), plotutil.Shape(i)
		p.Add(l, pts)
		p.Legend.Add(names[i], l, pts)
	}
	// Headroom above the data for the legend.
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, v := range s {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	if hi > lo {
		p.Y.Max = hi + 0.35*(hi-lo)
	}
	p.Legend.Left = true
	p.Legend.YPosition = draw.PosTop
	return savePlot(p, path)
}
