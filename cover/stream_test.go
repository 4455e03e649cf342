package cover

import (
	"math"
	"testing"
	"time"

	"loam/internal/clock"
)

// TestStreamGaps checks the gaps are exponential of mean 1/rate: the sample
// mean within 4 % (about 6 standard errors over 20,000 gaps) and a
// one-sample KS test against the exponential distribution not rejected at
// α = 10⁻⁶.
func TestStreamGaps(t *testing.T) {
	const rate, n = 10.0, 20000
	v := newVirtual()
	var ticks []time.Time
	s := NewStream(v, rate, func() { ticks = append(ticks, v.Now()) })
	s.Start()
	stepUntil(t, v, 24*time.Hour, func() bool { return len(ticks) > n })
	s.Stop()

	gaps := gapsSeconds(ticks)
	var sum float64
	for _, g := range gaps {
		if g < 0 {
			t.Fatalf("negative gap %v", g)
		}
		sum += g
	}
	mean := sum / float64(len(gaps))
	if math.Abs(mean*rate-1) > 0.04 {
		t.Fatalf("mean gap %.5f s, want %.5f s", mean, 1/rate)
	}
	d, p := KSOneSample(gaps, func(x float64) float64 { return 1 - math.Exp(-rate*x) })
	if p < 1e-6 {
		t.Fatalf("gaps are not exponential: KS d=%.4f p=%.3g", d, p)
	}
	// The same test must reject a wrong rate, or it proves nothing.
	if _, p := KSOneSample(gaps, func(x float64) float64 { return 1 - math.Exp(-1.2*rate*x) }); p > 1e-6 {
		t.Fatalf("KS did not reject a rate 20%% off: p=%.3g", p)
	}
}

// TestStreamScheduleFromDueTimes checks each due time is the previous one
// plus −ln(U)/rate, exactly, whatever the ticks do.
func TestStreamScheduleFromDueTimes(t *testing.T) {
	const rate = 3.0
	v := newVirtual()
	var ticks []time.Time
	s := NewStream(v, rate, nil)
	s.tick = func() {
		ticks = append(ticks, v.Now())
		v.AfterFunc(0, func() {}) // work scheduled by the tick must not shift the stream
	}
	s.draw = seededDraws(7)
	s.Start()
	stepUntil(t, v, time.Hour, func() bool { return len(ticks) == 1000 })

	replay := seededDraws(7)
	at := epoch
	for i, got := range ticks {
		at = at.Add(expGap(rate, replay()))
		if !got.Equal(at) {
			t.Fatalf("tick %d at %v, want %v", i, got.Sub(epoch), at.Sub(epoch))
		}
	}
}

func TestStreamStopStartSetRate(t *testing.T) {
	v := newVirtual()
	var n int
	s := NewStream(v, 5, func() { n++ })
	v.Advance(time.Minute)
	if n != 0 {
		t.Fatal("a stream ticked before Start")
	}

	s.Start()
	s.Start() // no second process
	v.Advance(1000 * time.Second)
	if n < 4500 || n > 5500 {
		t.Fatalf("%d ticks in 1000 s at 5/s", n)
	}

	s.Stop()
	if v.Pending() != 0 {
		t.Fatalf("%d timers left after Stop", v.Pending())
	}
	n = 0
	v.Advance(time.Hour)
	if n != 0 {
		t.Fatalf("%d ticks after Stop", n)
	}

	s.Start()
	s.SetRate(50)
	if s.Rate() != 50 {
		t.Fatalf("rate %v", s.Rate())
	}
	v.Advance(100 * time.Second)
	if n < 4500 || n > 5500 {
		t.Fatalf("%d ticks in 100 s at 50/s", n)
	}

	for _, off := range []float64{0, -1, math.NaN(), math.Inf(1), math.Inf(-1)} {
		s.SetRate(off)
		if s.Rate() != 0 || v.Pending() != 0 {
			t.Fatalf("rate %v: stream still on (rate %v, %d timers)", off, s.Rate(), v.Pending())
		}
		n = 0
		v.Advance(time.Hour)
		if n != 0 {
			t.Fatalf("rate %v: %d ticks", off, n)
		}
		s.SetRate(1)
		if v.Pending() != 1 {
			t.Fatalf("after rate %v, SetRate(1) armed %d timers", off, v.Pending())
		}
	}
	s.SetRate(1e300)
	if s.Rate() != MaxRate {
		t.Fatalf("rate not clamped: %v", s.Rate())
	}
}

func TestStreamStopInsideTick(t *testing.T) {
	v := newVirtual()
	var n int
	var s *Stream
	s = NewStream(v, 10, func() {
		n++
		if n == 3 {
			s.Stop()
		}
	})
	s.Start()
	v.Advance(time.Hour)
	if n != 3 {
		t.Fatalf("%d ticks, want 3", n)
	}
	if v.Pending() != 0 {
		t.Fatalf("%d timers left", v.Pending())
	}
}

func TestStreamSetRateInsideTickRearmsOnce(t *testing.T) {
	v := newVirtual()
	var n int
	var s *Stream
	s = NewStream(v, 10, func() {
		n++
		s.SetRate(float64(10 + n%2)) // a new rate at every tick
		if v.Pending() != 1 {
			t.Errorf("%d timers armed inside tick", v.Pending())
		}
	})
	s.Start()
	v.Advance(100 * time.Second)
	if v.Pending() != 1 {
		t.Fatalf("%d timers armed, want 1", v.Pending())
	}
	if n < 800 || n > 1300 {
		t.Fatalf("%d ticks in 100 s at about 10.5/s", n)
	}
}

// TestStreamFarBehindSkips checks a stream that fell more than maxLag behind
// its schedule draws its next gap from now instead of bursting, and one a
// little behind keeps its schedule.
func TestStreamFarBehindSkips(t *testing.T) {
	fc := &fakeClock{now: epoch}
	s := NewStream(fc, 1, func() {})
	s.draw = func() float64 { return math.Exp(-1) } // every gap exactly 1 s
	s.Start()
	if got := fc.pending[0].d; got != time.Second {
		t.Fatalf("first gap %v", got)
	}

	fc.now = epoch.Add(time.Second + maxLag/2) // a little late
	fc.fire()
	if want := epoch.Add(2 * time.Second); !s.due.Equal(want) {
		t.Fatalf("next due %v, want %v", s.due.Sub(epoch), want.Sub(epoch))
	}

	fc.now = epoch.Add(2*time.Second + 3*maxLag) // far behind
	fc.fire()
	if want := fc.now.Add(time.Second); !s.due.Equal(want) {
		t.Fatalf("next due %v, want %v", s.due.Sub(epoch), want.Sub(epoch))
	}
}

// fakeClock lets a test set the time a timer fires at.
type fakeClock struct {
	now     time.Time
	pending []*fakeTimer
}

type fakeTimer struct {
	d       time.Duration
	f       func()
	stopped bool
}

func (t *fakeTimer) Stop() bool { was := !t.stopped; t.stopped = true; return was }

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	t := &fakeTimer{d: d, f: f}
	c.pending = append(c.pending, t)
	return t
}

// fire runs the oldest pending timer that is not stopped.
func (c *fakeClock) fire() {
	for len(c.pending) > 0 {
		t := c.pending[0]
		c.pending = c.pending[1:]
		if !t.stopped {
			t.f()
			return
		}
	}
	panic("fakeClock: nothing pending")
}

func TestExpGapBounds(t *testing.T) {
	if g := expGap(1, 1); g != 0 {
		t.Fatalf("U=1 gives %v", g)
	}
	if g := expGap(1e-300, 0.5); g != maxGap {
		t.Fatalf("tiny rate gives %v", g)
	}
	if g := expGap(MaxRate, math.SmallestNonzeroFloat64); g <= 0 || g > time.Millisecond {
		t.Fatalf("smallest U at MaxRate gives %v", g)
	}
}
