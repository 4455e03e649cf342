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

// X25519 returns the mean time of one crypto/ecdh X25519 ECDH, measured now
// over about 30 ms.
func X25519() time.Duration {
	curve := ecdh.X25519()
	priv, err := curve.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	peer, err := curve.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	pub := peer.PublicKey()
	const batch = 64
	var ops int
	start := time.Now()
	for time.Since(start) < 30*time.Millisecond {
		for range batch {
			if _, err := priv.ECDH(pub); err != nil {
				panic(err)
			}
		}
		ops += batch
	}
	return time.Since(start) / time.Duration(ops)
}

// Ratio runs work in b's loop and reports its time per operation divided by
// the X25519 floor measured just before and just after, as the metric name.
// It returns the ratio.
func Ratio(b *testing.B, name string, work func()) float64 {
	before := X25519()
	for b.Loop() {
		work()
	}
	per := float64(b.Elapsed()) / float64(b.N)
	floor := float64(before+X25519()) / 2
	ratio := per / floor
	b.ReportMetric(ratio, name)
	b.ReportMetric(floor, "x25519-ns")
	return ratio
}
