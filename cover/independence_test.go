package cover

import (
	"testing"
	"time"

	"loam/internal/clock"
	"loam/internal/xrand"
)

// The independence tests: the times at which a client sends must not depend
// on whether, or how much, it has real traffic to send (SPEC.md, cover
// traffic: the real-or-drop rule).

const (
	indepRate = 2.0   // λP
	indepGaps = 12000 // real-or-drop gaps per run (≥ 10,000)
	indepα    = 1e-6
)

// realLoad enqueues real packets at random times on a virtual clock, in
// phases of random length: idle, light Poisson load, bursts of up to 40
// packets at once, and saturation (arrivals at three times λP, which fill
// the queue).
type realLoad struct {
	v       *clock.Virtual
	enqueue func(pkt []byte) error
	next    uint64 // serial of the next real packet
	stopped bool

	phase   int
	phaseTo time.Time
}

const (
	phaseIdle = iota
	phaseLight
	phaseBursts
	phaseSaturate
	phases
)

func (l *realLoad) start() { l.v.AfterFunc(0, l.event) }

func (l *realLoad) event() {
	if l.stopped {
		return
	}
	now := l.v.Now()
	if !now.Before(l.phaseTo) {
		l.phase = xrand.IntN(phases)
		l.phaseTo = now.Add(xrand.Exp(100 * time.Second))
	}
	var wait time.Duration
	switch l.phase {
	case phaseIdle:
		wait = l.phaseTo.Sub(now)
	case phaseLight:
		l.put(1)
		wait = xrand.Exp(time.Second / (indepRate / 2))
	case phaseBursts:
		l.put(1 + xrand.IntN(40))
		wait = xrand.Exp(20 * time.Second)
	case phaseSaturate:
		l.put(1)
		wait = xrand.Exp(time.Second / (3 * indepRate))
	}
	l.v.AfterFunc(wait, l.event)
}

func (l *realLoad) put(n int) {
	for range n {
		if l.enqueue(tagged(kindReal, l.next)) == nil {
			l.next++
		}
	}
}

// runRealOrDrop runs one client (real-or-drop stream only, so every send is
// a slot) until it has made indepGaps+1 sends, with the load if loaded, and
// returns the send times, the packets and how many real ones were queued.
func runRealOrDrop(t *testing.T, loaded bool) (times []time.Time, pkts [][]byte) {
	t.Helper()
	v := newVirtual()
	log := &sendLog{clock: v}
	var c *Client
	enqueued := uint64(0)
	sentReal := uint64(0)
	send := func(pkt []byte) error {
		// The real-or-drop rule, seen from outside: a drop goes exactly
		// when no real packet waits, and real packets go in order.
		switch pkt[0] {
		case kindDrop:
			if enqueued != sentReal {
				t.Fatalf("drop sent while %d real packets waited", enqueued-sentReal)
			}
			if q := c.Stats().Queued; q != 0 {
				t.Fatalf("drop sent with queue length %d", q)
			}
		case kindReal:
			if serial(pkt) != sentReal {
				t.Fatalf("real packet %d sent when %d was due (not FIFO)", serial(pkt), sentReal)
			}
			sentReal++
		default:
			t.Fatalf("unexpected packet kind %q", pkt[0])
		}
		return log.send(pkt)
	}
	c = NewClient(ClientConfig{
		Clock: v, Rates: Rates{RealOrDrop: indepRate}, Maker: &fakeMaker{}, Send: send,
		QueueLen: 64, // small, so that saturation meets ErrQueueFull
		MaxWait:  -1, // no expiry here: every queued packet must leave, in order
	})
	load := &realLoad{v: v, enqueue: func(pkt []byte) error {
		err := c.Enqueue(pkt)
		if err == nil {
			enqueued++
		}
		return err
	}}
	if loaded {
		load.start()
	}
	c.Start()
	stepUntil(t, v, 100*time.Hour, func() bool { return len(log.times) > indepGaps })
	c.Stop()
	load.stopped = true
	return log.times, log.pkts
}

// faultyClient is what the independence test must catch: a client that
// sends a real packet the moment it is enqueued, and otherwise runs the same
// Poisson stream of drops.
type faultyClient struct {
	stream *Stream
	maker  Maker
	send   func([]byte) error
}

func newFaultyClient(c clock.Clock, rate float64, m Maker, send func([]byte) error) *faultyClient {
	f := &faultyClient{maker: m, send: send}
	f.stream = NewStream(c, rate, func() {
		if pkt, err := f.maker.DropPacket(); err == nil {
			_ = f.send(pkt)
		}
	})
	return f
}

func (f *faultyClient) Enqueue(pkt []byte) error { return f.send(pkt) }

func runFaulty(t *testing.T) []time.Time {
	t.Helper()
	v := newVirtual()
	log := &sendLog{clock: v}
	f := newFaultyClient(v, indepRate, &fakeMaker{}, log.send)
	load := &realLoad{v: v, enqueue: f.Enqueue}
	load.start()
	f.stream.Start()
	stepUntil(t, v, 100*time.Hour, func() bool { return len(log.times) > indepGaps })
	load.stopped = true
	return log.times
}

// TestRealOrDropIndependentOfLoad is the independence test: the gaps between
// consecutive real-or-drop sends with no real load and under a heavy, bursty
// real load are compared by a two-sample Kolmogorov–Smirnov test, which must
// not reject at α = 10⁻⁶; the same test must reject a faulty client that
// sends real packets at once.
func TestRealOrDropIndependentOfLoad(t *testing.T) {
	idleTimes, idlePkts := runRealOrDrop(t, false)
	loadTimes, loadPkts := runRealOrDrop(t, true)

	for _, p := range idlePkts {
		if p[0] != kindDrop {
			t.Fatal("a real packet was sent with no load")
		}
	}
	real := 0
	for _, p := range loadPkts {
		if p[0] == kindReal {
			real++
		}
	}
	// The load must be real enough for the test to mean something: a good
	// share of slots real, and some of each.
	if frac := float64(real) / float64(len(loadPkts)); frac < 0.2 || frac > 0.9 {
		t.Fatalf("load filled %.0f%% of slots; the test needs a mixed load", 100*frac)
	}

	idle, loaded := gapsSeconds(idleTimes), gapsSeconds(loadTimes)
	d, p := KSTwoSample(idle, loaded)
	t.Logf("no load vs load: %d and %d gaps, %d%% real; KS d=%.4f p=%.3g", len(idle), len(loaded),
		100*real/len(loadPkts), d, p)
	if p < indepα {
		t.Fatalf("real-or-drop gaps depend on the load: KS d=%.4f p=%.3g", d, p)
	}

	faulty := gapsSeconds(runFaulty(t))
	d, p = KSTwoSample(idle, faulty)
	t.Logf("no load vs faulty client: KS d=%.4f p=%.3g", d, p)
	if p >= indepα {
		t.Fatalf("the test did not catch a client that sends real packets at once: KS d=%.4f p=%.3g", d, p)
	}
}

// TestSendTimesIdenticalWhateverLoad replays the same random gaps with and
// without load: the send times must be exactly the same, since the stream
// never looks at the queue.
func TestSendTimesIdenticalWhateverLoad(t *testing.T) {
	run := func(loaded bool) []time.Time {
		v := newVirtual()
		log := &sendLog{clock: v}
		c := NewClient(ClientConfig{Clock: v, Rates: Rates{RealOrDrop: indepRate}, Maker: &fakeMaker{},
			Send: log.send, MaxWait: -1})
		c.realOrDrop.draw = seededDraws(42)
		if loaded {
			(&realLoad{v: v, enqueue: c.Enqueue}).start()
		}
		c.Start()
		stepUntil(t, v, 100*time.Hour, func() bool { return len(log.times) >= 3000 })
		if loaded && log.count(kindReal) == 0 {
			t.Fatal("the load sent nothing")
		}
		return log.times
	}
	idle, loaded := run(false), run(true)
	for i := range idle {
		if !idle[i].Equal(loaded[i]) {
			t.Fatalf("send %d at %v without load, %v with", i, idle[i].Sub(epoch), loaded[i].Sub(epoch))
		}
	}
}
