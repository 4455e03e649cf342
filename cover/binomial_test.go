package cover

import (
	"math"
	"math/big"
	"testing"
)

// exactUpperTail computes P[X ≥ k] for X ~ Binomial(n, a/b) exactly:
// Σ_{i≥k} C(n,i)·aⁱ·(b−a)ⁿ⁻ⁱ / bⁿ in integers, rounded once at the end.
func exactUpperTail(n, k int, a, b int64) float64 {
	num := new(big.Int)
	for i := k; i <= n; i++ {
		term := new(big.Int).Binomial(int64(n), int64(i))
		term.Mul(term, new(big.Int).Exp(big.NewInt(a), big.NewInt(int64(i)), nil))
		term.Mul(term, new(big.Int).Exp(big.NewInt(b-a), big.NewInt(int64(n-i)), nil))
		num.Add(num, term)
	}
	den := new(big.Int).Exp(big.NewInt(b), big.NewInt(int64(n)), nil)
	f, _ := new(big.Rat).SetFrac(num, den).Float64()
	return f
}

func TestBinomialUpperTailExact(t *testing.T) {
	for _, n := range []int{1, 2, 7, 30, 61} {
		for _, p := range [][2]int64{{1, 50}, {1, 10}, {1, 2}, {9, 10}} {
			pf := float64(p[0]) / float64(p[1])
			for k := 0; k <= n+1; k++ {
				got, want := binomialUpperTail(n, k, pf), exactUpperTail(n, k, p[0], p[1])
				// The float64 p differs from a/b by under 2⁻⁵³ relative,
				// which moves the tail by under n·2⁻⁵³ relative.
				if math.Abs(got-want) > 1e-11*want {
					t.Fatalf("P[Bin(%d, %v) ≥ %d] = %.17g, want %.17g", n, pf, k, got, want)
				}
			}
		}
	}
}

// TestBinomialUpperTailLarge checks large n by its own identities: the
// tail falls with k from 1 at k = 0, and successive differences are the
// probability mass, which sums to 1.
func TestBinomialUpperTailLarge(t *testing.T) {
	const n, p = 65536, 0.02
	prev := binomialUpperTail(n, 0, p)
	if prev != 1 {
		t.Fatalf("P[X ≥ 0] = %v", prev)
	}
	var mass float64
	for k := 1; k <= n+1; k++ {
		cur := binomialUpperTail(n, k, p)
		if cur > prev {
			t.Fatalf("tail rises at k=%d: %v > %v", k, cur, prev)
		}
		mass += prev - cur
		prev = cur
		if cur == 0 {
			break
		}
	}
	if math.Abs(mass-1) > 1e-9 {
		t.Fatalf("mass sums to %v", mass)
	}
	// About the mean (1310.72) the tail is near one half.
	if v := binomialUpperTail(n, 1311, p); v < 0.4 || v > 0.6 {
		t.Fatalf("tail at the mean = %v", v)
	}
	// Far out it is tiny but not zero.
	if v := binomialUpperTail(n, 2000, p); !(v > 0 && v < 1e-50) {
		t.Fatalf("tail far out = %v", v)
	}
}

func TestBinomialUpperTailEdges(t *testing.T) {
	cases := []struct {
		n, k int
		p    float64
		want float64
	}{
		{10, 0, 0.5, 1}, {10, -1, 0.5, 1}, {10, 11, 0.5, 0}, {0, 0, 0.5, 1},
		{10, 1, 0, 0}, {10, 10, 1, 1}, {10, 1, math.NaN(), 0},
	}
	for _, c := range cases {
		if got := binomialUpperTail(c.n, c.k, c.p); got != c.want {
			t.Errorf("P[Bin(%d, %v) ≥ %d] = %v, want %v", c.n, c.p, c.k, got, c.want)
		}
	}
}
