package directory

import (
	"math"
	"time"
)

// Schedule maps time to epochs. Epochs are counted from the Unix epoch:
// epoch e covers [e·P, (e+1)·P) where P is the period, so every node and
// authority derives the same epoch from the time alone.
type Schedule struct{ Period time.Duration }

// Epoch returns the epoch t falls in. Times before 1970 and a non-positive
// period give 0.
func (s Schedule) Epoch(t time.Time) uint64 {
	if s.Period <= 0 {
		return 0
	}
	ns := t.UnixNano()
	if ns < 0 {
		return 0
	}
	return uint64(ns / int64(s.Period))
}

// Start returns when epoch e begins. Epochs beyond what time.Duration can
// count from 1970 (year 2262) all begin at the last representable instant.
func (s Schedule) Start(e uint64) time.Time {
	if s.Period <= 0 {
		return time.Unix(0, 0)
	}
	if e > uint64(math.MaxInt64/int64(s.Period)) {
		return time.Unix(0, math.MaxInt64)
	}
	return time.Unix(0, int64(e)*int64(s.Period))
}
