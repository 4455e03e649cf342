package cover

import "math"

// binomialUpperTail returns P[X ≥ k] for X ~ Binomial(n, p): the one-sided
// p-value of observing k or more losses among n loops when each is lost
// independently with probability p.
//
// Above the mode ⌊(n+1)p⌋ it sums the upper tail, k…n; at or below it, it
// sums the lower tail, 0…k−1, and subtracts from 1. Either way the terms
// summed fall away from the mode, so the sum is accurate, and it stops once
// what is left is below 2⁻⁶⁰ of it.
func binomialUpperTail(n, k int, p float64) float64 {
	switch {
	case k <= 0:
		return 1
	case k > n:
		return 0
	case !(p > 0):
		return 0
	case p >= 1:
		return 1
	}
	if mode := math.Floor((float64(n) + 1) * p); float64(k) > mode {
		return min(1, binomialTail(n, k, p, +1))
	}
	return max(0, 1-binomialTail(n, k-1, p, -1))
}

// binomialTail sums the binomial probabilities C(n,i)·pⁱ·(1−p)ⁿ⁻ⁱ from
// i = from away from the mode in direction dir (+1: up to n, −1: down to
// 0). Each term comes from the one before by the ratio of consecutive
// probabilities, in log space, so nothing underflows however small the
// tail: from i to i+1 the log grows by ln((n−i)/(i+1)) + ln(p/(1−p)).
func binomialTail(n, from int, p float64, dir int) float64 {
	fn, fk := float64(n), float64(from)
	lgN, _ := math.Lgamma(fn + 1)
	lgK, _ := math.Lgamma(fk + 1)
	lgNK, _ := math.Lgamma(fn - fk + 1)
	lp, lq := math.Log(p), math.Log1p(-p)
	logTerm := lgN - lgK - lgNK + fk*lp + (fn-fk)*lq
	odds := lp - lq

	// The terms fall geometrically away from the mode, so once one is
	// below 2⁻⁶⁰/n of the sum, all the rest together are negligible.
	negligible := math.Log(fn+1) + 60*math.Ln2
	first := logTerm
	sum := 1.0 // the sum so far is exp(first)·sum
	for i := from; ; {
		if dir > 0 {
			if i == n {
				break
			}
			logTerm += math.Log(fn-float64(i)) - math.Log(float64(i)+1) + odds
			i++
		} else {
			if i == 0 {
				break
			}
			logTerm -= math.Log(fn-float64(i)+1) - math.Log(float64(i)) + odds
			i--
		}
		sum += math.Exp(logTerm - first)
		if logTerm+negligible < first+math.Log(sum) {
			break
		}
	}
	return math.Exp(first) * sum
}
