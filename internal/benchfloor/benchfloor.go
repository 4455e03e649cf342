// Package benchfloor measures the cost floor that Loam's benchmarks report
// against: one X25519 Diffie-Hellman with crypto/ecdh, the least work a mix
// can do per packet. The machines benchmarks run on are noisy, so a ratio to a
// floor measured in the same process, right beside the work, says more than a
// bare duration.
package benchfloor

import (
	"crypto/ecdh"
	"crypto/rand"
	"runtime"
	"sync"
	"testing"
	"time"
)

// ecdhPair is one X25519 private key and a peer public key to multiply.
type ecdhPair struct {
	priv *ecdh.PrivateKey
	pub  *ecdh.PublicKey
}

func newPair() ecdhPair {
	curve := ecdh.X25519()
	priv, err := curve.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	peer, err := curve.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return ecdhPair{priv, peer.PublicKey()}
}

func (p ecdhPair) run(n int) time.Duration {
	start := time.Now()
	for range n {
		if _, err := p.priv.ECDH(p.pub); err != nil {
			panic(err)
		}
	}
	return time.Since(start)
}

// Sampler measures the floor in slices taken between a benchmark's rounds
// of work, for benchmarks whose work is not a function called b.N times
// but a pipeline through a node on every core: each slice runs ECDHs on
// every P at once, so the floor is one core's ECDH time while all cores are
// busy (as they are during the work), and it tracks a machine that speeds
// up or slows down during the run.
type Sampler struct {
	pairs []ecdhPair
	took  time.Duration // summed over the Ps
	ops   int
}

// NewSampler returns a Sampler with no samples.
func NewSampler() *Sampler {
	s := &Sampler{}
	for range runtime.GOMAXPROCS(0) {
		s.pairs = append(s.pairs, newPair())
	}
	return s
}

// Sample runs ECDHs on every P for about d (at least one batch each).
func (s *Sampler) Sample(d time.Duration) {
	const batch = 16
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range s.pairs {
		wg.Go(func() {
			var took time.Duration
			ops := 0
			for took < d {
				took += p.run(batch)
				ops += batch
			}
			mu.Lock()
			s.took += took
			s.ops += ops
			mu.Unlock()
		})
	}
	wg.Wait()
}

// Mean is one core's mean time for one ECDH over every sample so far.
func (s *Sampler) Mean() time.Duration {
	if s.ops == 0 {
		return 0
	}
	return s.took / time.Duration(s.ops)
}

// Ratio runs work b.N times and reports its mean time divided by the mean
// time of one X25519 ECDH as the metric name, and the floor itself as
// x25519-ns. The floor is measured in slices interleaved with the work, with
// the benchmark timer stopped, so that a machine that speeds up or slows
// down during the run changes both sides alike. It returns the ratio.
func Ratio(b *testing.B, name string, work func()) float64 {
	p := newPair()
	const chunk = 16
	var workTime, floorTime time.Duration
	var floorOps int
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(chunk, b.N-done)
		start := time.Now()
		for range n {
			work()
		}
		workTime += time.Since(start)
		done += n
		b.StopTimer()
		floorTime += p.run(chunk)
		floorOps += chunk
		b.StartTimer()
	}
	perWork := float64(workTime) / float64(b.N)
	floor := float64(floorTime) / float64(floorOps)
	ratio := perWork / floor
	b.ReportMetric(ratio, name)
	b.ReportMetric(floor, "x25519-ns")
	return ratio
}
