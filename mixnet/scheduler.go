package mixnet

import (
	"sync"
	"time"

	"loam/internal/clock"
	"loam/onion"
)

// scheduler holds relayed packets for the delay their sender chose and
// releases each at its due time. It keeps one heap and one Clock timer, armed
// for the earliest packet: no goroutine sleeps per packet, and on a virtual
// clock the same code runs in simulated time.
type scheduler struct {
	clock   clock.Clock
	release func(next onion.NodeID, pkt []byte, due time.Time)
	limit   int

	mu    sync.Mutex
	q     schedHeap
	seq   uint64
	timer clock.Timer
	armed time.Time // due time the timer is armed for; zero when none
}

type schedItem struct {
	due  int64  // Unix nanoseconds
	seq  uint64 // FIFO among equal due times
	next onion.NodeID
	pkt  []byte
}

func newScheduler(c clock.Clock, limit int, release func(onion.NodeID, []byte, time.Time)) *scheduler {
	return &scheduler{clock: c, release: release, limit: limit}
}

// schedule queues pkt for next until due; a packet already due leaves at
// once. It reports false, keeping nothing, when the scheduler already holds
// its limit.
func (s *scheduler) schedule(due time.Time, next onion.NodeID, pkt []byte) bool {
	now := s.clock.Now()
	if !due.After(now) {
		s.release(next, pkt, due)
		return true
	}
	s.mu.Lock()
	if len(s.q) >= s.limit {
		s.mu.Unlock()
		return false
	}
	s.seq++
	s.q.push(schedItem{due: due.UnixNano(), seq: s.seq, next: next, pkt: pkt})
	s.armLocked(now)
	s.mu.Unlock()
	return true
}

// armLocked points the timer at the earliest item if it is not already
// armed for that time or earlier.
func (s *scheduler) armLocked(now time.Time) {
	if len(s.q) == 0 {
		return
	}
	head := time.Unix(0, s.q[0].due)
	if !s.armed.IsZero() && !head.Before(s.armed) {
		return
	}
	if s.timer != nil {
		s.timer.Stop()
	}
	s.armed = head
	s.timer = s.clock.AfterFunc(head.Sub(now), s.fire)
}

// fire releases every item that is due, then re-arms for the rest.
func (s *scheduler) fire() {
	now := s.clock.Now()
	s.mu.Lock()
	var due []schedItem
	for n := now.UnixNano(); len(s.q) > 0 && s.q[0].due <= n; {
		due = append(due, s.q.pop())
	}
	s.armed, s.timer = time.Time{}, nil
	s.armLocked(now)
	s.mu.Unlock()
	for _, it := range due {
		s.release(it.next, it.pkt, time.Unix(0, it.due))
	}
}

// len is the number of packets held.
func (s *scheduler) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.q)
}

// stop drops the timer; held packets are abandoned with the node.
func (s *scheduler) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timer != nil {
		s.timer.Stop()
	}
	s.timer, s.armed, s.q = nil, time.Time{}, nil
}

// schedHeap is a binary min-heap of items by due time, then sequence. It is
// typed rather than built on container/heap, whose interface boxes every
// item pushed: one allocation a packet on the hot path.
type schedHeap []schedItem

func (h schedHeap) less(i, j int) bool {
	if h[i].due != h[j].due {
		return h[i].due < h[j].due
	}
	return h[i].seq < h[j].seq
}

func (h *schedHeap) push(it schedItem) {
	*h = append(*h, it)
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *schedHeap) pop() schedItem {
	q := *h
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q[last] = schedItem{}
	q = q[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(q) && q.less(l, m) {
			m = l
		}
		if r < len(q) && q.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}
