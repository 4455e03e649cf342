package sim

import "math"

// pathKernel is the adversary's model of the time from a client's send to
// the delivery of a post's header packet at a friend, as the wire shows
// both: a fixed number of link latencies plus the sum of one exponential
// delay per layer, an Erlang(layers, μ) variable.
type pathKernel struct {
	k      int     // layers
	mu     float64 // per second
	offset int64   // the links' share, ns
	window int64   // beyond offset+window the density is negligible, ns
	norm   float64 // μᵏ/(k−1)!
}

func newPathKernel(layers int, mu float64, offset int64) pathKernel {
	k := max(layers, 1)
	norm := math.Pow(mu, float64(k)) / math.Gamma(float64(k))
	// The Erlang tail beyond (k + 12 + 4√k)/μ is below 1e-5 for k ≤ 8.
	win := (float64(k) + 12 + 4*math.Sqrt(float64(k))) / mu
	return pathKernel{k: k, mu: mu, offset: offset, window: int64(win * 1e9), norm: norm}
}

// density is the kernel at a gap of d ns between send and delivery.
func (p pathKernel) density(d int64) float64 {
	x := float64(d-p.offset) * 1e-9
	if x <= 0 {
		return 0
	}
	return p.norm * math.Pow(x, float64(p.k-1)) * math.Exp(-p.mu*x)
}

// span is the longest gap with a density worth adding.
func (p pathKernel) span() int64 { return p.offset + p.window }
