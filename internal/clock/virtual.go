package clock

import (
	"container/heap"
	"sync"
	"time"
)

// Virtual is a clock whose time moves only when its owner advances it. Due
// functions run in the goroutine that advances the clock, in order of due
// time and, for equal times, of scheduling, so a run is deterministic.
type Virtual struct {
	mu  sync.Mutex
	now time.Time
	seq uint64
	q   eventQueue
}

// NewVirtual returns a virtual clock that reads start.
func NewVirtual(start time.Time) *Virtual { return &Virtual{now: start} }

// Now returns the virtual time.
func (v *Virtual) Now() time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.now
}

// AfterFunc schedules f at Now()+d; a negative d counts as zero.
func (v *Virtual) AfterFunc(d time.Duration, f func()) Timer {
	v.mu.Lock()
	defer v.mu.Unlock()
	if d < 0 {
		d = 0
	}
	v.seq++
	e := &event{at: v.now.Add(d), seq: v.seq, f: f, v: v}
	heap.Push(&v.q, e)
	return e
}

// Pending returns the number of scheduled calls.
func (v *Virtual) Pending() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.q)
}

// Next returns the due time of the earliest scheduled call.
func (v *Virtual) Next() (time.Time, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.q) == 0 {
		return time.Time{}, false
	}
	return v.q[0].at, true
}

// Step runs the earliest scheduled call, moving the clock to its time. It
// reports false when nothing is scheduled.
func (v *Virtual) Step() bool {
	v.mu.Lock()
	if len(v.q) == 0 {
		v.mu.Unlock()
		return false
	}
	e := heap.Pop(&v.q).(*event)
	if e.at.After(v.now) {
		v.now = e.at
	}
	v.mu.Unlock()
	e.f()
	return true
}

// RunUntil runs every call due at or before t, including calls they
// schedule, then sets the clock to t.
func (v *Virtual) RunUntil(t time.Time) {
	for {
		at, ok := v.Next()
		if !ok || at.After(t) {
			break
		}
		v.Step()
	}
	v.mu.Lock()
	if t.After(v.now) {
		v.now = t
	}
	v.mu.Unlock()
}

// Advance runs everything due within d from now and moves the clock by d.
func (v *Virtual) Advance(d time.Duration) { v.RunUntil(v.Now().Add(d)) }

type event struct {
	at    time.Time
	seq   uint64
	f     func()
	v     *Virtual
	index int // position in the heap; -1 once popped or stopped
}

func (e *event) Stop() bool {
	e.v.mu.Lock()
	defer e.v.mu.Unlock()
	if e.index < 0 {
		return false
	}
	heap.Remove(&e.v.q, e.index)
	return true
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *eventQueue) Push(x any) {
	e := x.(*event)
	e.index = len(*q)
	*q = append(*q, e)
}
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.index = -1
	*q = old[:len(old)-1]
	return e
}
