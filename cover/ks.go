package cover

import (
	"math"
	"slices"
)

// KSTwoSample returns the two-sample Kolmogorov–Smirnov statistic of a and
// b — the largest distance between their empirical distribution functions —
// and its asymptotic p-value: the probability, were both samples drawn from
// one continuous distribution, of a statistic at least as large.
//
// The p-value is Kolmogorov's limiting distribution Q(λ) at
// λ = (√nₑ + 0.12 + 0.11/√nₑ)·d, nₑ = n·m/(n+m) (Stephens' correction, as in
// Numerical Recipes), good for nₑ above about 4. NaN values are ignored; if
// either sample is then empty the result is d = 0, p = 1. The inputs are not
// changed.
func KSTwoSample(a, b []float64) (d, p float64) {
	x, y := sortedNumbers(a), sortedNumbers(b)
	n, m := len(x), len(y)
	if n == 0 || m == 0 {
		return 0, 1
	}
	i, j := 0, 0
	for i < n && j < m {
		// Step both distribution functions past the next value, ties in
		// either sample (or both) taken together.
		v := min(x[i], y[j])
		for i < n && x[i] == v {
			i++
		}
		for j < m && y[j] == v {
			j++
		}
		d = max(d, math.Abs(float64(i)/float64(n)-float64(j)/float64(m)))
	}
	ne := float64(n) * float64(m) / float64(n+m)
	return d, kolmogorovQ(d, ne)
}

// KSOneSample returns the one-sample Kolmogorov–Smirnov statistic of x
// against the continuous distribution function cdf, and its asymptotic
// p-value (as KSTwoSample, with nₑ = n). NaN values are ignored; an empty
// sample gives d = 0, p = 1.
func KSOneSample(x []float64, cdf func(float64) float64) (d, p float64) {
	s := sortedNumbers(x)
	n := float64(len(s))
	if len(s) == 0 {
		return 0, 1
	}
	for i, v := range s {
		f := cdf(v)
		d = max(d, float64(i+1)/n-f, f-float64(i)/n)
	}
	return d, kolmogorovQ(d, n)
}

// kolmogorovQ is the survival function of Kolmogorov's distribution at
// λ = (√ne + 0.12 + 0.11/√ne)·d.
func kolmogorovQ(d, ne float64) float64 {
	en := math.Sqrt(ne)
	return kolmogorovSurvival((en + 0.12 + 0.11/en) * d)
}

// kolmogorovSurvival is Q(λ) = 2 Σ_{j≥1} (−1)^{j−1} exp(−2j²λ²). That series
// converges slowly for small λ, where the equivalent
// 1 − (√(2π)/λ) Σ_{j≥1} exp(−(2j−1)²π²/(8λ²)) is used instead; at the
// switch, λ = 1.18, the terms dropped from either are below 10⁻¹⁸.
func kolmogorovSurvival(lambda float64) float64 {
	const terms = 4
	if !(lambda > 0) {
		return 1
	}
	var sum float64
	if lambda < 1.18 {
		c := -math.Pi * math.Pi / (8 * lambda * lambda)
		for j := 1; j <= terms; j++ {
			k := float64(2*j - 1)
			sum += math.Exp(k * k * c)
		}
		return clamp01(1 - math.Sqrt(2*math.Pi)/lambda*sum)
	}
	sign := 1.0
	for j := 1; j <= terms; j++ {
		sum += sign * math.Exp(-2*float64(j*j)*lambda*lambda)
		sign = -sign
	}
	return clamp01(2 * sum)
}

func clamp01(v float64) float64 { return min(1, max(0, v)) }

// sortedNumbers returns a sorted copy of s without its NaNs.
func sortedNumbers(s []float64) []float64 {
	out := make([]float64, 0, len(s))
	for _, v := range s {
		if !math.IsNaN(v) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}
