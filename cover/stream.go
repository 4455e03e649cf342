package cover

import (
	"math"
	"sync"
	"time"

	"loam/internal/clock"
	"loam/internal/xrand"
)

// Stream is a Poisson process on a Clock: it calls tick at exponentially
// distributed gaps of mean 1/rate seconds, drawn from the CSPRNG.
//
// Each due time is the previous due time plus a fresh gap, so the time a
// tick takes never shifts the schedule (what a tick does — send a queued
// packet or build a drop — must not show in the timing of the next one).
// Ticks never overlap: the next timer is armed when a tick returns.
type Stream struct {
	clock clock.Clock
	tick  func()
	draw  func() float64 // uniform in (0, 1]; xrand.Float64 outside tests

	mu      sync.Mutex
	rate    float64 // 0: off
	running bool
	timer   clock.Timer
	due     time.Time // when the armed timer is due
	gen     uint64    // bumped whenever the timer is re-armed or dropped
}

// NewStream returns a stopped stream of the given rate (per second) that
// calls tick. A rate that is not a positive finite number turns the stream
// off; one above MaxRate is clamped to it.
func NewStream(c clock.Clock, rate float64, tick func()) *Stream {
	if c == nil {
		c = clock.Real()
	}
	return &Stream{clock: c, tick: tick, draw: xrand.Float64, rate: sanitizeRate(rate)}
}

// Start starts the process: the first tick comes one gap from now. Starting
// a running stream does nothing.
func (s *Stream) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return
	}
	s.running = true
	s.armLocked(s.clock.Now())
}

// Stop stops the process. No tick starts after Stop returns, but one already
// under way (on the real clock, in another goroutine) runs to its end. Stop
// may be called from inside tick.
func (s *Stream) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running = false
	s.armLocked(time.Time{}) // drops the timer
}

// SetRate changes the rate (per second). It takes effect at once: the
// pending gap is thrown away and a new one is drawn from now at the new
// rate. An exponential gap is memoryless, so the result is exactly a
// Poisson process whose rate changed at this instant. A rate of 0 (or any
// value that is not a positive finite number) turns the stream off until a
// positive rate is set.
func (s *Stream) SetRate(rate float64) {
	rate = sanitizeRate(rate)
	s.mu.Lock()
	defer s.mu.Unlock()
	if rate == s.rate {
		return
	}
	s.rate = rate
	if s.running {
		s.armLocked(s.clock.Now())
	}
}

// Rate returns the current rate (0 when off).
func (s *Stream) Rate() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rate
}

// armLocked drops any pending timer and, if the stream runs at a positive
// rate, arms one for a gap after from.
func (s *Stream) armLocked(from time.Time) {
	s.gen++
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if !s.running || s.rate == 0 {
		return
	}
	s.due = from.Add(expGap(s.rate, s.draw()))
	gen := s.gen
	s.timer = s.clock.AfterFunc(s.due.Sub(s.clock.Now()), func() { s.fire(gen) })
}

// fire runs one tick and arms the next gap from this tick's due time.
func (s *Stream) fire(gen uint64) {
	s.mu.Lock()
	if gen != s.gen || !s.running {
		s.mu.Unlock()
		return // stopped or re-armed since this timer was set
	}
	due := s.due
	s.timer = nil
	s.mu.Unlock()

	s.tick()

	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.gen || !s.running {
		return // Stop, Start or SetRate ran during the tick and re-armed
	}
	from := due
	if now := s.clock.Now(); now.Sub(due) > maxLag {
		from = now // far behind: skip the missed slots rather than burst
	}
	s.armLocked(from)
}

// expGap inverts the exponential distribution: for U uniform in (0, 1],
// −ln(U)/rate is exponential of mean 1/rate. The result is truncated to
// whole nanoseconds and capped at maxGap.
func expGap(rate, u float64) time.Duration {
	g := -math.Log(u) / rate * float64(time.Second)
	if !(g < float64(maxGap)) {
		return maxGap
	}
	return time.Duration(g)
}

// sanitizeRate maps a rate that is not a positive finite number to 0 (off)
// and clamps one above MaxRate.
func sanitizeRate(r float64) float64 {
	if !(r > 0) || math.IsInf(r, 1) {
		return 0
	}
	return min(r, MaxRate)
}
