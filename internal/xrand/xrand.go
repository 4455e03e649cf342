// Package xrand draws the random choices Loam's protocols make — Poisson
// gaps, mixing delays, path choices — from crypto/rand: an observer who could
// predict them could tell real traffic from cover.
package xrand

import (
	"crypto/rand"
	"encoding/binary"
	"math"
	"time"
)

// Uint64 returns a uniform 64-bit value.
func Uint64() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("xrand: crypto/rand failed: " + err.Error()) // crypto/rand never fails on supported systems
	}
	return binary.LittleEndian.Uint64(b[:])
}

// Float64 returns a uniform value in (0, 1]: never zero, so its logarithm is
// finite.
func Float64() float64 {
	return (float64(Uint64()>>11) + 1) / (1 << 53)
}

// IntN returns a uniform value in [0, n); n must be positive.
func IntN(n int) int {
	if n <= 0 {
		panic("xrand: IntN of a non-positive bound")
	}
	// Rejection sampling removes the modulo bias.
	limit := math.MaxUint64 - math.MaxUint64%uint64(n)
	for {
		v := Uint64()
		if v < limit {
			return int(v % uint64(n))
		}
	}
}

// Exp returns an exponentially distributed duration with the given mean:
// the gap between events of a Poisson process of rate 1/mean.
func Exp(mean time.Duration) time.Duration {
	if mean <= 0 {
		return 0
	}
	return time.Duration(-math.Log(Float64()) * float64(mean))
}
