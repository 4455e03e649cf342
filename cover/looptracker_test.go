package cover

import (
	"errors"
	"log/slog"
	"math"
	"testing"
	"time"

	"loam/internal/clock"
	"loam/internal/xrand"
)

var quiet = slog.New(slog.DiscardHandler)

// lossyNet carries loops on a virtual clock: each is lost with probability
// loss (read at send time), otherwise returned after an exponential delay
// of mean 100 ms (far below the tests' 2 s timeout).
type lossyNet struct {
	v       *clock.Virtual
	tracker *LoopTracker
	loss    float64
}

func (n *lossyNet) send(pkt []byte) error {
	if xrand.Float64() <= n.loss {
		return nil
	}
	id := loopIDOf(pkt)
	n.v.AfterFunc(xrand.Exp(100*time.Millisecond), func() { n.tracker.Returned(id) })
	return nil
}

// TestLoopTrackerAlarm runs node loops through a network whose loss is 2 %
// (what ExpectedLoss allows), then 50 % (an n−1 attack), then 2 % again. The
// alarm must never rise in 100 windows of normal loss, must rise within one
// window of the attack, and must clear once the attack's loops have left the
// window. α = 10⁻⁹ per check keeps a false alarm over the run's ~2000
// checks below 10⁻⁵.
func TestLoopTrackerAlarm(t *testing.T) {
	const (
		rate    = 20.0 // loops per second
		window  = 30 * time.Second
		timeout = 2 * time.Second
	)
	v := newVirtual()
	var events []Report
	tr := NewLoopTracker(LoopTrackerConfig{
		Clock: v, Window: window, Timeout: timeout, ExpectedLoss: 0.02,
		Alpha: 1e-9, ClearAlpha: 1e-3, Logger: quiet,
		OnAlarm: func(r Report) { events = append(events, r) },
	})
	net := &lossyNet{v: v, tracker: tr, loss: 0.02}
	loops := NewNodeLoops(v, rate, &fakeMaker{}, net.send, tr)
	loops.Start()
	tr.Start()

	v.Advance(100 * window)
	if len(events) != 0 {
		t.Fatalf("false alarm at 2%% loss: %+v", events[0])
	}
	r := tr.Check()
	if r.Judged < 500 || r.Loss > 0.06 {
		t.Fatalf("normal window: %+v", r)
	}

	net.loss = 0.5
	attack := v.Now()
	stepUntil(t, v, timeout+window, func() bool { return len(events) > 0 })
	if !events[0].Alarm || events[0].PValue >= 1e-9 || events[0].Judged < DefaultMinSamples {
		t.Fatalf("alarm report %+v", events[0])
	}
	t.Logf("alarm %v after the attack began: %+v", v.Now().Sub(attack), events[0])
	v.Advance(window)
	if len(events) != 1 {
		t.Fatalf("alarm flapped during the attack: %+v", events)
	}

	net.loss = 0.02
	recovery := v.Now()
	stepUntil(t, v, timeout+3*window, func() bool { return len(events) > 1 })
	if events[1].Alarm || events[1].PValue < 1e-3 {
		t.Fatalf("clear report %+v", events[1])
	}
	t.Logf("cleared %v after recovery: %+v", v.Now().Sub(recovery), events[1])
	v.Advance(10 * window)
	if len(events) != 2 {
		t.Fatalf("alarm events after recovery: %+v", events)
	}
	if s := loops.Stats(); math.Abs(float64(s.Sent)/v.Now().Sub(epoch).Seconds()-rate) > 0.05*rate ||
		s.SendErrors+s.MakeErrors != 0 {
		t.Fatalf("node loop stats %+v", s)
	}

	tr.Stop()
	loops.Stop()
	v.Advance(window) // let the last returns land
	if v.Pending() != 0 {
		t.Fatalf("%d timers left after Stop", v.Pending())
	}
}

// TestLoopTrackerAccounting checks the window rules one loop at a time:
// deadlines, late returns, unknown and duplicate ids, cancellation, pruning.
func TestLoopTrackerAccounting(t *testing.T) {
	v := newVirtual()
	tr := NewLoopTracker(LoopTrackerConfig{Clock: v, Window: 10 * time.Second, Timeout: time.Second,
		MinSamples: 1, Logger: quiet})
	id := func(i byte) LoopID { return LoopID{15: i} }

	for i := range byte(10) {
		tr.Sent(id(i))
	}
	tr.Sent(id(0)) // duplicate of an outstanding id: ignored
	v.Advance(500 * time.Millisecond)
	for i := range byte(5) {
		tr.Returned(id(i))
	}
	tr.Returned(id(0))           // a second return counts once
	tr.Returned(LoopID{1, 2, 3}) // never sent
	tr.Cancel(id(9))             // never left: not judged

	if r := tr.Check(); r.Judged != 0 {
		t.Fatalf("judged before the timeout: %+v", r)
	}
	v.Advance(time.Second) // t = 1.5 s: all deadlines passed
	r := tr.Check()
	if tr.Last() != r {
		t.Fatalf("Last = %+v, Check gave %+v", tr.Last(), r)
	}
	want := Report{Judged: 9, Returned: 5, Lost: 4, Loss: 4.0 / 9, PValue: binomialUpperTail(9, 4, DefaultExpectedLoss), Alarm: true}
	if r != want {
		t.Fatalf("report %+v, want %+v", r, want)
	}

	v.Advance(500 * time.Millisecond) // t = 2 s: late returns still count
	tr.Returned(id(5))
	tr.Returned(id(6))
	if r := tr.Check(); r.Returned != 7 || r.Lost != 2 {
		t.Fatalf("after late returns: %+v", r)
	}

	v.Advance(9500 * time.Millisecond) // t = 11.5 s: deadlines at 1 s left the window
	tr.Returned(id(7))                 // forgotten: ignored
	if r := tr.Check(); r.Judged != 0 {
		t.Fatalf("after the window passed: %+v", r)
	}
	if held, _ := tr.Tracked(); held != 0 || len(tr.byID) != 0 {
		t.Fatalf("held %d records, %d ids", held, len(tr.byID))
	}
}

// TestLoopTrackerMinSamples checks there is no verdict on too few loops,
// however many are lost.
func TestLoopTrackerMinSamples(t *testing.T) {
	v := newVirtual()
	var events int
	tr := NewLoopTracker(LoopTrackerConfig{Clock: v, Window: 10 * time.Second, Timeout: time.Second,
		MinSamples: 30, Logger: quiet, OnAlarm: func(Report) { events++ }})
	for i := range byte(29) {
		tr.Sent(LoopID{0: i})
	}
	v.Advance(2 * time.Second)
	if r := tr.Check(); r.Alarm || r.Lost != 29 || events != 0 {
		t.Fatalf("verdict on 29 loops: %+v", r)
	}
	tr.Sent(LoopID{0: 29})
	v.Advance(2 * time.Second)
	if r := tr.Check(); !r.Alarm || events != 1 {
		t.Fatalf("no verdict on 30 lost loops: %+v", r)
	}
}

// TestLoopTrackerMemoryBounded sends two million loops (half a million
// under the race detector): memory follows the loops in the window, not the
// loops ever sent, and never exceeds MaxTracked.
func TestLoopTrackerMemoryBounded(t *testing.T) {
	n := 2_000_000
	if raceEnabled {
		n = 500_000
	}
	v := newVirtual()
	tr := NewLoopTracker(LoopTrackerConfig{Clock: v, Window: 10 * time.Second, Timeout: time.Second, Logger: quiet})
	var id LoopID
	maxHeld := 0
	for i := range uint64(n) {
		putUint64(id[:], i)
		tr.Sent(id)
		if i%50 != 0 { // 2 % lost
			tr.Returned(id)
		}
		if i%100 == 99 {
			v.Advance(100 * time.Millisecond) // 100 loops at each instant
		}
		if i%100_000 == 0 {
			held, _ := tr.Tracked()
			maxHeld = max(maxHeld, held)
		}
	}
	// Loops sent in the last Window + Timeout: 11,000 at 1 per ms.
	if held, untracked := tr.Tracked(); held > 11_000 || maxHeld > 11_000 || untracked != 0 {
		t.Fatalf("held %d (max %d), untracked %d", held, maxHeld, untracked)
	}
	if len(tr.byID) > 11_000/50 {
		t.Fatalf("%d outstanding ids", len(tr.byID))
	}
	if r := tr.Check(); r.Judged != 10_000 || r.Lost != 200 || r.Alarm {
		t.Fatalf("report %+v", r)
	}

	// A window far longer than the cap allows: the cap holds.
	tr = NewLoopTracker(LoopTrackerConfig{Clock: v, Window: time.Hour, MaxTracked: 1000, Logger: quiet})
	for i := range uint64(5000) {
		putUint64(id[:], i)
		tr.Sent(id)
	}
	if held, untracked := tr.Tracked(); held != 1000 || untracked != 4000 || len(tr.ring()) > 1024 {
		t.Fatalf("held %d, untracked %d, buffer %d", held, untracked, len(tr.ring()))
	}
}

func putUint64(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (8 * i))
	}
}

func (t *LoopTracker) ring() []loopRec { return t.recs.buf }

func TestLoopTrackerConfig(t *testing.T) {
	bad := []LoopTrackerConfig{
		{Window: -1}, {Timeout: -1}, {ExpectedLoss: 1}, {ExpectedLoss: math.NaN()},
		{Alpha: 1}, {Alpha: -0.1}, {Alpha: 0.01, ClearAlpha: 0.001}, {ClearAlpha: 2},
		{MinSamples: -1}, {MaxTracked: -1}, {CheckEvery: -1},
	}
	for _, cfg := range bad {
		if err := cfg.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: Validate = %v", cfg, err)
		}
		cfg.Logger = quiet
		d := NewLoopTracker(cfg).cfg
		if d.Window <= 0 || d.Timeout <= 0 || !(d.ExpectedLoss >= 0 && d.ExpectedLoss < 1) ||
			!(d.Alpha > 0 && d.Alpha < 1) || !(d.ClearAlpha >= d.Alpha && d.ClearAlpha <= 1) ||
			d.MinSamples <= 0 || d.MaxTracked <= 0 || d.CheckEvery <= 0 {
			t.Errorf("%+v: not repaired: %+v", cfg, d)
		}
	}
	d := NewLoopTracker(LoopTrackerConfig{}).cfg
	if d.Window != DefaultWindow || d.Timeout != DefaultTimeout || d.ExpectedLoss != DefaultExpectedLoss ||
		d.Alpha != DefaultAlpha || d.ClearAlpha != DefaultClearAlpha || d.MinSamples != DefaultMinSamples ||
		d.CheckEvery != DefaultWindow/checksPerWindow {
		t.Errorf("defaults %+v", d)
	}
	if d := NewLoopTracker(LoopTrackerConfig{ExpectedLoss: -1}).cfg; d.ExpectedLoss != 0 {
		t.Errorf("negative ExpectedLoss gave %v, want 0", d.ExpectedLoss)
	}
}

// TestLoopTrackerConcurrent calls every method from several goroutines on
// the wall clock, for the race detector.
func TestLoopTrackerConcurrent(t *testing.T) {
	tr := NewLoopTracker(LoopTrackerConfig{Window: 50 * time.Millisecond, Timeout: 5 * time.Millisecond,
		MaxTracked: 500, Logger: quiet, OnAlarm: func(Report) {}})
	tr.Start()
	defer tr.Stop()
	done := make(chan struct{})
	for g := range byte(4) {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 2000 {
				id := LoopID{0: g, 1: byte(i), 2: byte(i >> 8)}
				tr.Sent(id)
				switch i % 3 {
				case 0:
					tr.Returned(id)
				case 1:
					tr.Cancel(id)
				}
				if i%100 == 0 {
					tr.Check()
					tr.Tracked()
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
	if r := tr.Check(); r.Returned > r.Judged || r.Lost != r.Judged-r.Returned {
		t.Fatalf("report %+v", r)
	}
	if held, _ := tr.Tracked(); held > 500 {
		t.Fatalf("held %d of at most 500", held)
	}
}
