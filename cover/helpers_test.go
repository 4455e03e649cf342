package cover

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"loam/internal/clock"
)

var epoch = time.Unix(1_700_000_000, 0)

func newVirtual() *clock.Virtual { return clock.NewVirtual(epoch) }

// Packet kinds the fake maker and the tests write in a packet's first byte.
const (
	kindReal = 'R'
	kindDrop = 'D'
	kindLoop = 'L'
)

// fakeMaker builds tagged packets: kind byte, then a big-endian counter (or
// the loop id).
type fakeMaker struct {
	drops, loops atomic.Uint64
	failDrop     atomic.Bool
	failLoop     atomic.Bool
}

func (m *fakeMaker) DropPacket() ([]byte, error) {
	if m.failDrop.Load() {
		return nil, errTest
	}
	return tagged(kindDrop, m.drops.Add(1)), nil
}

func (m *fakeMaker) LoopPacket() ([]byte, LoopID, error) {
	if m.failLoop.Load() {
		return nil, LoopID{}, errTest
	}
	var id LoopID
	binary.BigEndian.PutUint64(id[8:], m.loops.Add(1))
	return append([]byte{kindLoop}, id[:]...), id, nil
}

type testError struct{}

func (testError) Error() string { return "cover test: induced failure" }

var errTest error = testError{}

func tagged(kind byte, n uint64) []byte {
	b := make([]byte, 9)
	b[0] = kind
	binary.BigEndian.PutUint64(b[1:], n)
	return b
}

func serial(pkt []byte) uint64 { return binary.BigEndian.Uint64(pkt[1:9]) }

func loopIDOf(pkt []byte) LoopID { return LoopID(pkt[1:17]) }

// sendLog records what a client hands to Send, with the virtual time.
type sendLog struct {
	mu    sync.Mutex
	clock clock.Clock
	times []time.Time
	pkts  [][]byte
	fail  atomic.Bool
}

func (l *sendLog) send(pkt []byte) error {
	if l.fail.Load() {
		return errTest
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.times = append(l.times, l.clock.Now())
	l.pkts = append(l.pkts, pkt)
	return nil
}

func (l *sendLog) count(kind byte) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, p := range l.pkts {
		if p[0] == kind {
			n++
		}
	}
	return n
}

// seededDraws is a deterministic stand-in for xrand.Float64, uniform in
// (0, 1], for tests that need to replay the same gaps.
func seededDraws(seed uint64) func() float64 {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return func() float64 { return (float64(r.Uint64()>>11) + 1) / (1 << 53) }
}

// gapsSeconds returns the gaps between consecutive times, in seconds.
func gapsSeconds(ts []time.Time) []float64 {
	out := make([]float64, 0, len(ts))
	for i := 1; i < len(ts); i++ {
		out = append(out, ts[i].Sub(ts[i-1]).Seconds())
	}
	return out
}

// stepUntil runs the virtual clock until done reports true, failing the
// test if the clock runs dry or more than limit of virtual time passes.
func stepUntil(t testing.TB, v *clock.Virtual, limit time.Duration, done func() bool) {
	t.Helper()
	end := v.Now().Add(limit)
	for !done() {
		if !v.Step() {
			t.Fatal("virtual clock ran out of events")
		}
		if v.Now().After(end) {
			t.Fatalf("condition not met within %v of virtual time", limit)
		}
	}
}
