package mixnet

import (
	"crypto/rand"
	"testing"

	"loam/onion"
)

func randomTag() onion.ReplayTag {
	var t onion.ReplayTag
	rand.Read(t[:])
	return t
}

func TestReplayFilterRemembers(t *testing.T) {
	f := newReplayFilter(10000, 1e-6)
	tags := make([]onion.ReplayTag, 5000)
	for i := range tags {
		tags[i] = randomTag()
		if f.seen(&tags[i]) {
			t.Fatalf("fresh tag %d reported seen", i)
		}
	}
	for i := range tags {
		if !f.seen(&tags[i]) {
			t.Fatalf("tag %d forgotten", i)
		}
	}
	if in, cp := f.fill(); in != 5000 || cp != 10000 {
		t.Fatalf("fill = %d/%d", in, cp)
	}
}

// TestReplayFilterFalsePositiveRate fills a filter to capacity and checks the
// measured false-positive rate against the configured bound.
func TestReplayFilterFalsePositiveRate(t *testing.T) {
	const n = 20000
	const target = 1e-3
	f := newReplayFilter(n, target)
	for range n {
		tag := randomTag()
		f.seen(&tag)
	}
	const probes = 200000
	fp := 0
	for range probes {
		tag := randomTag()
		if f.probe(&tag, false) {
			fp++
		}
	}
	// The bound holds in expectation; allow sampling noise (mean 200).
	if rate := float64(fp) / probes; rate > 1.5*target {
		t.Fatalf("false-positive rate %.5f at capacity, configured %.5f", rate, target)
	}
}

func TestSizeBlockedBloom(t *testing.T) {
	blocks, k := sizeBlockedBloom(2_000_000, 1e-6)
	if k < 1 || k > maxBloomK {
		t.Fatalf("k = %d", k)
	}
	if got := blockedFPRate(2_000_000, blocks, k); got > 1e-6 {
		t.Fatalf("sized rate %.2g > 1e-6", got)
	}
	// The classic Bloom filter needs 28.8 bits a tag at 1e-6; blocking
	// costs more but should stay within 1.6 times that.
	if bits := float64(blocks*blockBits) / 2e6; bits > 1.6*28.8 {
		t.Fatalf("%.1f bits per tag", bits)
	}
}

func TestReplayFilterReleased(t *testing.T) {
	f := newReplayFilter(1000, 1e-6)
	tag := randomTag()
	f.seen(&tag)
	f.release(false)
	other := randomTag()
	if !f.seen(&other) {
		t.Fatal("a released filter let a packet through")
	}
}
