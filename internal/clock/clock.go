// Package clock is the seam between Loam's protocol code and time. Nodes,
// clients and cover schedules read the time and set timers only through a
// Clock, so the same code runs on the wall clock and inside the simulator's
// virtual time.
package clock

import "time"

// Clock tells the time and runs functions later.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f once, d from now, unless the returned Timer is
	// stopped first. On the real clock f runs in its own goroutine; on a
	// virtual clock it runs inside Advance or Run.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not run yet and reports whether it
	// did so.
	Stop() bool
}

// Real returns the wall clock.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
