package cover

import (
	"math"
	"slices"
	"testing"

	"loam/internal/xrand"
	"pgregory.net/rapid"
)

// TestKolmogorovTable checks Q(λ) against the published table of
// Kolmogorov's distribution (Smirnov 1948; the critical values 1.36 and
// 1.63 of the 5 % and 1 % tests).
func TestKolmogorovTable(t *testing.T) {
	table := []struct{ lambda, q float64 }{
		{0.3, 0.99999}, {0.5, 0.9639}, {0.8, 0.5441}, {1.0, 0.2700}, {1.2, 0.1122},
		{1.36, 0.0495}, {1.5, 0.0222}, {1.63, 0.0098}, {2.0, 0.00067},
	}
	for _, e := range table {
		if got := kolmogorovSurvival(e.lambda); math.Abs(got-e.q) > 1e-4 {
			t.Errorf("Q(%v) = %.5f, want %.5f", e.lambda, got, e.q)
		}
	}
	// The two series meet at the switch.
	below, above := kolmogorovSurvival(math.Nextafter(1.18, 0)), kolmogorovSurvival(1.18)
	if math.Abs(below-above) > 1e-12 {
		t.Errorf("Q jumps at the switch: %v, %v", below, above)
	}
	if kolmogorovSurvival(0) != 1 || kolmogorovSurvival(-1) != 1 || kolmogorovSurvival(math.NaN()) != 1 ||
		kolmogorovSurvival(100) != 0 {
		t.Error("Q at the edges")
	}
}

func TestKSTwoSampleKnown(t *testing.T) {
	a := []float64{0.3, 1.7, 2.2, 5, 9}
	if d, p := KSTwoSample(a, slices.Clone(a)); d != 0 || p != 1 {
		t.Errorf("identical samples: d=%v p=%v", d, p)
	}
	if d, p := KSTwoSample([]float64{1, 2, 3}, []float64{4, 5, 6, 7}); d != 1 || p > 0.05 {
		t.Errorf("disjoint samples: d=%v p=%v", d, p)
	}
	// By hand: F_a − F_b at 1, 2, 2.5, 3, 3.5, 4, 4.5 … is
	// 1/4, 2/4, 2/4−1/5, 3/4−1/5, 3/4−2/5, 1−2/5, 1−3/5 …: the largest is
	// 1 − 2/5 = 0.6. With nₑ = 20/9, λ = (√nₑ + 0.12 + 0.11/√nₑ)·0.6.
	d, p := KSTwoSample([]float64{1, 2, 3, 4}, []float64{2.5, 3.5, 4.5, 5.5, 6.5})
	en := math.Sqrt(20.0 / 9)
	if math.Abs(d-0.6) > 1e-15 || math.Abs(p-kolmogorovSurvival((en+0.12+0.11/en)*0.6)) > 1e-15 {
		t.Errorf("worked example: d=%v p=%v", d, p)
	}
	// About λ = 1.01, between the table's Q(1.0) = 0.270 and Q(1.02).
	if p < 0.24 || p > 0.27 {
		t.Errorf("worked example: p=%v", p)
	}
	// Ties across the samples step both functions at once.
	if d, _ := KSTwoSample([]float64{1, 1, 2, 2}, []float64{1, 2}); d != 0 {
		t.Errorf("tied samples of one distribution: d=%v", d)
	}
	if d, p := KSTwoSample(nil, a); d != 0 || p != 1 {
		t.Errorf("empty sample: d=%v p=%v", d, p)
	}
	if d, _ := KSTwoSample([]float64{math.NaN(), 1, 2}, []float64{1, 2, math.NaN()}); d != 0 {
		t.Errorf("NaNs not ignored: d=%v", d)
	}
}

// bruteKS is the two-sample statistic from its definition: the largest gap
// between the empirical distribution functions at every sample point.
func bruteKS(a, b []float64) float64 {
	cdf := func(s []float64, z float64) float64 {
		n := 0
		for _, v := range s {
			if v <= z {
				n++
			}
		}
		return float64(n) / float64(len(s))
	}
	var d float64
	for _, z := range append(slices.Clone(a), b...) {
		d = max(d, math.Abs(cdf(a, z)-cdf(b, z)))
	}
	return d
}

func TestKSTwoSampleProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		// Small integer values make ties common.
		gen := rapid.SliceOfN(rapid.IntRange(-20, 20), 1, 60)
		ai, bi := gen.Draw(t, "a"), gen.Draw(t, "b")
		a, b := make([]float64, len(ai)), make([]float64, len(bi))
		for i, v := range ai {
			a[i] = float64(v)
		}
		for i, v := range bi {
			b[i] = float64(v)
		}
		orig := slices.Clone(a)
		d, p := KSTwoSample(a, b)
		if !slices.Equal(a, orig) {
			t.Fatal("input changed")
		}
		if want := bruteKS(a, b); math.Abs(d-want) > 1e-12 {
			t.Fatalf("d = %v, definition gives %v", d, want)
		}
		if d2, p2 := KSTwoSample(b, a); d2 != d || p2 != p {
			t.Fatalf("not symmetric: (%v, %v) vs (%v, %v)", d, p, d2, p2)
		}
		if !(p >= 0 && p <= 1) {
			t.Fatalf("p = %v", p)
		}
		// A strictly increasing transform changes nothing.
		ea, eb := make([]float64, len(a)), make([]float64, len(b))
		for i, v := range a {
			ea[i] = math.Exp(v / 10)
		}
		for i, v := range b {
			eb[i] = math.Exp(v / 10)
		}
		if d3, _ := KSTwoSample(ea, eb); math.Abs(d3-d) > 1e-12 {
			t.Fatalf("changed by a monotone transform: %v vs %v", d3, d)
		}
	})
}

// TestKSTwoSampleMonotone checks the p-value falls as d grows, for fixed
// sizes, and as the samples grow, for fixed d.
func TestKSTwoSampleMonotone(t *testing.T) {
	prev := 1.0
	for d := 0.0; d <= 1; d += 0.01 {
		p := kolmogorovQ(d, 50)
		if p > prev {
			t.Fatalf("p rises with d at %v", d)
		}
		prev = p
	}
	prev = 1.0
	for ne := 2.0; ne < 1e5; ne *= 1.5 {
		p := kolmogorovQ(0.05, ne)
		if p > prev {
			t.Fatalf("p rises with n at %v", ne)
		}
		prev = p
	}
}

// TestKSTwoSampleCalibrated checks the p-value under the null: for 1000
// pairs of samples from one distribution, the share with p < 0.1 must be
// near 0.1 (bounds at about 5 standard deviations); and it has power: the
// same test on a shifted distribution rejects nearly always.
func TestKSTwoSampleCalibrated(t *testing.T) {
	const trials, n = 1000, 100
	draw := func(rate float64) []float64 {
		s := make([]float64, n)
		for i := range s {
			s[i] = -math.Log(xrand.Float64()) / rate
		}
		return s
	}
	nullLow, altLow := 0, 0
	for range trials {
		if _, p := KSTwoSample(draw(1), draw(1)); p < 0.1 {
			nullLow++
		}
		if _, p := KSTwoSample(draw(1), draw(2)); p < 0.1 {
			altLow++
		}
	}
	if nullLow < 50 || nullLow > 150 {
		t.Errorf("under the null, %d of %d p-values below 0.1", nullLow, trials)
	}
	if altLow < 900 {
		t.Errorf("rate 1 vs rate 2 with %d each: only %d of %d rejected at 0.1", n, altLow, trials)
	}
}

func TestKSOneSample(t *testing.T) {
	expCDF := func(x float64) float64 { return 1 - math.Exp(-x) }
	// One point at the median: d = 1/2.
	if d, _ := KSOneSample([]float64{math.Ln2}, expCDF); math.Abs(d-0.5) > 1e-12 {
		t.Errorf("d = %v", d)
	}
	if d, p := KSOneSample(nil, expCDF); d != 0 || p != 1 {
		t.Errorf("empty: %v %v", d, p)
	}
	// The quantiles (i−½)/n fit perfectly but for the ½/n steps.
	const n = 1000
	x := make([]float64, n)
	for i := range x {
		x[i] = -math.Log(1 - (float64(i)+0.5)/n)
	}
	if d, p := KSOneSample(x, expCDF); math.Abs(d-0.5/n) > 1e-9 || p < 0.99 {
		t.Errorf("quantiles: d=%v p=%v", d, p)
	}
}
