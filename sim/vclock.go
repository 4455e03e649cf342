package sim

import (
	"time"

	"loam/internal/clock"
)

// vclock is the simulator's virtual clock. It keeps clock.Virtual's
// contract — calls run in order of due time and, for equal times, of
// scheduling, in the goroutine that advances the clock — but is built for
// the tens of millions of timers a large run sets (every Poisson tick,
// every mix's release): times are int64 nanoseconds, kept inline in a
// 4-ary heap so that ordering never chases a pointer, and a stopped timer
// is only marked and skipped when it comes up. clock.Virtual's
// container/heap over time.Time spent a quarter of a run ordering timers.
// A property test checks that both run the same schedule in the same
// order.
//
// Unlike clock.Virtual it has no lock: one goroutine owns a simulation and
// everything in it.
type vclock struct {
	start time.Time
	now   int64
	nowT  time.Time // start + now
	seq   uint64
	h     []hent
}

type hent struct {
	at  int64
	seq uint64
	e   *vevent
}

type vevent struct {
	f     func()
	state uint8 // pending, ran or stopped
}

const (
	evPending uint8 = iota
	evRan
	evStopped
)

var _ clock.Clock = (*vclock)(nil)

func newVClock(start time.Time) *vclock { return &vclock{start: start, nowT: start} }

// Now returns the virtual time.
func (c *vclock) Now() time.Time { return c.nowT }

// AfterFunc schedules f at Now()+d; a negative d counts as zero.
func (c *vclock) AfterFunc(d time.Duration, f func()) clock.Timer {
	c.seq++
	e := &vevent{f: f}
	c.h = append(c.h, hent{at: c.now + int64(max(d, 0)), seq: c.seq, e: e})
	c.up(len(c.h) - 1)
	return e
}

// Stop prevents the call if it has not run and reports whether it did so.
func (e *vevent) Stop() bool {
	if e.state != evPending {
		return false
	}
	e.state, e.f = evStopped, nil
	return true
}

// next returns the due time of the earliest pending call.
func (c *vclock) next() (int64, bool) {
	c.skipStopped()
	if len(c.h) == 0 {
		return 0, false
	}
	return c.h[0].at, true
}

func (c *vclock) skipStopped() {
	for len(c.h) > 0 && c.h[0].e.state == evStopped {
		c.pop()
	}
}

// step runs the earliest pending call, moving the clock to its time.
func (c *vclock) step() bool {
	c.skipStopped()
	if len(c.h) == 0 {
		return false
	}
	top := c.pop()
	c.advance(top.at)
	e := top.e
	f := e.f
	e.state, e.f = evRan, nil
	f()
	return true
}

// runUntil runs every call due at or before t, including calls they
// schedule, then sets the clock to t.
func (c *vclock) runUntil(t int64) {
	for {
		at, ok := c.next()
		if !ok || at > t {
			break
		}
		c.step()
	}
	c.advance(t)
}

func (c *vclock) advance(t int64) {
	if t > c.now {
		c.now = t
		c.nowT = c.start.Add(time.Duration(t))
	}
}

func less(a, b *hent) bool { return a.at < b.at || (a.at == b.at && a.seq < b.seq) }

func (c *vclock) pop() hent {
	h := c.h
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h[last] = hent{}
	c.h = h[:last]
	if last > 0 {
		c.down(0)
	}
	return top
}

func (c *vclock) up(i int) {
	h := c.h
	x := h[i]
	for i > 0 {
		p := (i - 1) / 4
		if !less(&x, &h[p]) {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = x
}

func (c *vclock) down(i int) {
	h := c.h
	n := len(h)
	x := h[i]
	for {
		first := 4*i + 1
		if first >= n {
			break
		}
		best := first
		for k := first + 1; k < min(first+4, n); k++ {
			if less(&h[k], &h[best]) {
				best = k
			}
		}
		if !less(&h[best], &x) {
			break
		}
		h[i] = h[best]
		i = best
	}
	h[i] = x
}
