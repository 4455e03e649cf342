// Package benchfloor measures the cost floor that Loam's benchmarks report
// against: one X25519 Diffie-Hellman with crypto/ecdh, the least work a mix
// can do per packet. The machines benchmarks run on are noisy, so a ratio to a
// floor measured in the same process, right beside the work, says more than a
// bare duration.
package benchfloor

import (
	"crypto/ecdh"
	"crypto/rand"
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

// X25519 returns the mean time of one crypto/ecdh X25519 ECDH, measured now
// over about 30 ms.
func X25519() time.Duration {
	p := newPair()
	const batch = 64
	var ops int
	var took time.Duration
	for took < 30*time.Millisecond {
		took += p.run(batch)
		ops += batch
	}
	return took / time.Duration(ops)
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
