package cover

import (
	"errors"
	"math"
	"testing"
	"time"
)

// TestClientRates runs all three streams for a long virtual time under a
// light real load: each count must be within 6 standard deviations of λ·T
// (a Poisson count's variance is its mean).
func TestClientRates(t *testing.T) {
	const T = 10000 * time.Second
	rates := Rates{RealOrDrop: 2, Loop: 0.5, Drop: 0.25}
	v := newVirtual()
	log := &sendLog{clock: v}
	c := NewClient(ClientConfig{Clock: v, Rates: rates, Maker: &fakeMaker{}, Send: log.send})
	var next uint64
	var feed func()
	feed = func() {
		if c.Enqueue(tagged(kindReal, next)) == nil {
			next++
		}
		v.AfterFunc(time.Second, feed) // 1/s real against λP = 2/s
	}
	v.AfterFunc(0, feed)
	c.Start()
	v.Advance(T)
	c.Stop()

	s := c.Stats()
	check := func(name string, got uint64, rate float64) {
		t.Helper()
		want := rate * T.Seconds()
		if math.Abs(float64(got)-want) > 6*math.Sqrt(want) {
			t.Errorf("%s: %d packets in %v, want %.0f ± %.0f", name, got, T, want, 6*math.Sqrt(want))
		}
	}
	check("real-or-drop", s.Real+s.Drop, rates.RealOrDrop)
	check("loop", s.Loop, rates.Loop)
	check("drop stream", s.DropStream, rates.Drop)
	// Every real packet was sent or is still queued. Real packets come
	// once a second against λP = 2/s, a D/M/1 queue at load 0.5: k or more
	// are left waiting with probability about 0.2^k, so 3 happen (1 %)
	// and 10 (1e-7) do not.
	if s.Real+uint64(s.Queued) != next || s.Queued > 10 {
		t.Errorf("%d real sent and %d queued of %d enqueued", s.Real, s.Queued, next)
	}
	// The log must agree with the counters.
	if got := uint64(log.count(kindLoop)); got != s.Loop {
		t.Errorf("log has %d loops, stats %d", got, s.Loop)
	}
	if got := uint64(log.count(kindDrop)); got != s.Drop+s.DropStream {
		t.Errorf("log has %d drops, stats %d+%d", got, s.Drop, s.DropStream)
	}
	if s.SendErrors != 0 || s.MakeErrors != 0 || s.Expired != 0 {
		t.Errorf("errors: %+v", s)
	}
}

func TestClientQueueFull(t *testing.T) {
	v := newVirtual()
	c := NewClient(ClientConfig{Clock: v, Rates: Rates{RealOrDrop: 1}, Maker: &fakeMaker{},
		Send: (&sendLog{clock: v}).send, QueueLen: 3})
	for i := range 3 {
		if err := c.Enqueue(tagged(kindReal, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Enqueue(tagged(kindReal, 3)); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Enqueue on a full queue: %v", err)
	}
	if q := c.Stats().Queued; q != 3 {
		t.Fatalf("queued %d", q)
	}
	c.Start()
	stepUntil(t, v, time.Hour, func() bool { return c.Stats().Queued == 0 })
	if err := c.Enqueue(tagged(kindReal, 3)); err != nil {
		t.Fatalf("Enqueue after the queue drained: %v", err)
	}
}

// TestClientExpiry checks a real packet that waited longer than MaxWait is
// handed to OnExpire instead of being sent, and the rest keep their order.
func TestClientExpiry(t *testing.T) {
	v := newVirtual()
	log := &sendLog{clock: v}
	var expired []uint64
	c := NewClient(ClientConfig{Clock: v, Rates: Rates{RealOrDrop: 1}, Maker: &fakeMaker{}, Send: log.send,
		MaxWait: 10 * time.Second, OnExpire: func(p []byte) { expired = append(expired, serial(p)) }})
	for i := range 3 {
		_ = c.Enqueue(tagged(kindReal, uint64(i)))
	}
	v.Advance(11 * time.Second) // stopped: the three wait past MaxWait
	_ = c.Enqueue(tagged(kindReal, 3))
	c.Start()
	stepUntil(t, v, time.Hour, func() bool { return log.count(kindReal) == 1 })
	if len(expired) != 3 || expired[0] != 0 || expired[2] != 2 {
		t.Fatalf("expired %v, want [0 1 2]", expired)
	}
	if s := c.Stats(); s.Expired != 3 || s.Real != 1 {
		t.Fatalf("stats %+v", s)
	}
	for _, p := range log.pkts {
		if p[0] == kindReal && serial(p) != 3 {
			t.Fatalf("sent expired packet %d", serial(p))
		}
	}
}

// TestClientSendFailureKeepsPacket checks a real packet whose Send fails
// goes back to the head of the queue and leaves, in order, once Send works.
func TestClientSendFailureKeepsPacket(t *testing.T) {
	v := newVirtual()
	log := &sendLog{clock: v}
	c := NewClient(ClientConfig{Clock: v, Rates: Rates{RealOrDrop: 5, Loop: 5, Drop: 5}, Maker: &fakeMaker{},
		Send: log.send, Loops: NewLoopTracker(LoopTrackerConfig{Clock: v, Timeout: time.Second})})
	for i := range 5 {
		_ = c.Enqueue(tagged(kindReal, uint64(i)))
	}
	log.fail.Store(true)
	c.Start()
	v.Advance(10 * time.Second)
	s := c.Stats()
	if s.Queued != 5 || s.Real != 0 || s.SendErrors == 0 {
		t.Fatalf("while Send fails: %+v", s)
	}
	if r := c.loops.Check(); r.Judged != 0 {
		t.Fatalf("unsent loops judged: %+v", r)
	}
	log.fail.Store(false)
	stepUntil(t, v, time.Hour, func() bool { return c.Stats().Real == 5 })
	var order []uint64
	for _, p := range log.pkts {
		if p[0] == kindReal {
			order = append(order, serial(p))
		}
	}
	for i, n := range order {
		if n != uint64(i) {
			t.Fatalf("real packets left in order %v", order)
		}
	}
}

func TestClientMakerFailure(t *testing.T) {
	v := newVirtual()
	log := &sendLog{clock: v}
	m := &fakeMaker{}
	m.failDrop.Store(true)
	m.failLoop.Store(true)
	c := NewClient(ClientConfig{Clock: v, Rates: Rates{RealOrDrop: 5, Loop: 5, Drop: 5}, Maker: m, Send: log.send})
	_ = c.Enqueue(tagged(kindReal, 0))
	c.Start()
	v.Advance(10 * time.Second)
	s := c.Stats()
	if s.Real != 1 || s.Drop != 0 || s.Loop != 0 || s.DropStream != 0 || s.MakeErrors == 0 {
		t.Fatalf("stats %+v", s)
	}
	m.failDrop.Store(false)
	v.Advance(10 * time.Second)
	if s := c.Stats(); s.Drop == 0 || s.DropStream == 0 {
		t.Fatalf("no drops after the maker recovered: %+v", s)
	}
}

// TestClientPreparedDropIsFresh checks a drop built ahead is not sent once
// it is older than MaxWait.
func TestClientPreparedDropIsFresh(t *testing.T) {
	v := newVirtual()
	log := &sendLog{clock: v}
	m := &fakeMaker{}
	c := NewClient(ClientConfig{Clock: v, Rates: Rates{RealOrDrop: 1}, Maker: m, Send: log.send,
		MaxWait: 10 * time.Second})
	c.Start() // builds drop 1 ahead
	c.Stop()
	v.Advance(time.Minute)
	c.Start()
	stepUntil(t, v, time.Hour, func() bool { return log.count(kindDrop) > 0 })
	if serial(log.pkts[0]) == 1 {
		t.Fatal("a stale prepared drop was sent")
	}
}

func TestClientSetRates(t *testing.T) {
	v := newVirtual()
	log := &sendLog{clock: v}
	c := NewClient(ClientConfig{Clock: v, Rates: Rates{RealOrDrop: 1}, Maker: &fakeMaker{}, Send: log.send,
		Logger: quiet})
	c.Start()
	v.Advance(100 * time.Second)
	c.SetRates(Rates{RealOrDrop: 0, Loop: 10, Drop: math.NaN()})
	before := c.Stats()
	v.Advance(100 * time.Second)
	after := c.Stats()
	if after.Drop != before.Drop || after.Real != before.Real || after.DropStream != 0 {
		t.Fatalf("streams that are off sent: %+v → %+v", before, after)
	}
	if after.Loop < 800 || after.Loop > 1200 {
		t.Fatalf("%d loops in 100 s at 10/s", after.Loop)
	}
}

// TestClientBadConfig checks a client without Maker or Send counts errors
// rather than panicking.
func TestClientBadConfig(t *testing.T) {
	if err := (ClientConfig{Rates: Rates{RealOrDrop: -1}}).Validate(); !errors.Is(err, ErrConfig) {
		t.Fatalf("Validate: %v", err)
	}
	v := newVirtual()
	c := NewClient(ClientConfig{Clock: v, Rates: Rates{RealOrDrop: 5, Loop: 5, Drop: 5}, Logger: quiet})
	c.Start()
	v.Advance(10 * time.Second)
	if s := c.Stats(); s.MakeErrors == 0 || s.Real+s.Drop+s.Loop+s.DropStream != 0 {
		t.Fatalf("stats %+v", s)
	}
	c = NewClient(ClientConfig{Clock: v, Rates: Rates{RealOrDrop: 5}, Maker: &fakeMaker{}, Logger: quiet})
	c.Start()
	v.Advance(10 * time.Second)
	if s := c.Stats(); s.SendErrors == 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestRatesValidate(t *testing.T) {
	for _, r := range []Rates{{RealOrDrop: -1}, {Loop: math.NaN()}, {Drop: math.Inf(1)},
		{RealOrDrop: math.Copysign(0, -1)}, {Drop: 2 * MaxRate}} {
		if err := r.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v", r, err)
		}
	}
	if err := (Rates{RealOrDrop: 2, Loop: 0.5, Drop: 0}).Validate(); err != nil {
		t.Error(err)
	}
}

// TestClientConcurrentEnqueue runs the client on the real clock with
// Enqueue from several goroutines, for the race detector.
func TestClientConcurrentEnqueue(t *testing.T) {
	m := &fakeMaker{}
	sent := make(chan []byte, 10000)
	c := NewClient(ClientConfig{Rates: Rates{RealOrDrop: 2000, Loop: 500, Drop: 500}, Maker: m,
		Send: func(p []byte) error {
			select {
			case sent <- p:
			default:
			}
			return nil
		}, Loops: NewLoopTracker(LoopTrackerConfig{})})
	c.Start()
	defer c.Stop()
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			for i := range 50 {
				for c.Enqueue(tagged(kindReal, uint64(g*1000+i))) != nil {
					time.Sleep(time.Millisecond)
				}
			}
			done <- struct{}{}
		}()
	}
	for range 4 {
		<-done
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.Stats().Real < 200 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of 200 real packets sent: %+v", c.Stats().Real, c.Stats())
		}
		c.SetRates(Rates{RealOrDrop: 2000, Loop: 400 + float64(c.Stats().Real%2)*100, Drop: 500})
		time.Sleep(time.Millisecond)
	}
}

// TestClientFailingPacketExpires checks a real packet put back after a
// failed Send keeps its age, so MaxWait still bounds its wait.
func TestClientFailingPacketExpires(t *testing.T) {
	v := newVirtual()
	log := &sendLog{clock: v}
	log.fail.Store(true)
	var expired int
	c := NewClient(ClientConfig{Clock: v, Rates: Rates{RealOrDrop: 10}, Maker: &fakeMaker{}, Send: log.send,
		MaxWait: 5 * time.Second, OnExpire: func([]byte) { expired++ }})
	_ = c.Enqueue(tagged(kindReal, 0))
	c.Start()
	v.Advance(10 * time.Second)
	if s := c.Stats(); expired != 1 || s.Expired != 1 || s.Queued != 0 {
		t.Fatalf("expired %d, stats %+v", expired, s)
	}
}
