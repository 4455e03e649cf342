package mixnet

import (
	"math/rand/v2"
	"testing"
	"time"

	"pgregory.net/rapid"

	"loam/internal/clock"
	"loam/onion"
)

func TestSchedulerReleasesInDueOrderAtDueTime(t *testing.T) {
	start := time.Unix(1_000_000, 0)
	v := clock.NewVirtual(start)
	type rel struct {
		id      byte
		at, due time.Time
	}
	var got []rel
	s := newScheduler(v, 1000, func(next onion.NodeID, _ []byte, due time.Time) {
		got = append(got, rel{next[0], v.Now(), due})
	})
	delays := map[byte]time.Duration{}
	for i := range 200 {
		d := time.Duration(rand.IntN(1000)+1) * time.Millisecond
		delays[byte(i)] = d
		if !s.schedule(start.Add(d), onion.NodeID{byte(i)}, nil) {
			t.Fatal("schedule refused below the limit")
		}
	}
	v.Advance(2 * time.Second)
	if len(got) != 200 || s.len() != 0 {
		t.Fatalf("released %d, holding %d", len(got), s.len())
	}
	for i, r := range got {
		if want := start.Add(delays[r.id]); !r.at.Equal(want) || !r.due.Equal(want) {
			t.Fatalf("packet %d released at %v (due %v), want %v", r.id, r.at.Sub(start), r.due.Sub(start), want.Sub(start))
		}
		if i > 0 && r.at.Before(got[i-1].at) {
			t.Fatal("released out of order")
		}
	}
}

func TestSchedulerZeroDelayAndLimit(t *testing.T) {
	v := clock.NewVirtual(time.Unix(0, 0))
	n := 0
	s := newScheduler(v, 2, func(onion.NodeID, []byte, time.Time) { n++ })
	now := v.Now()
	s.schedule(now, onion.NodeID{}, nil)
	if n != 1 {
		t.Fatal("zero delay not released at once")
	}
	s.schedule(now.Add(time.Second), onion.NodeID{}, nil)
	s.schedule(now.Add(time.Second), onion.NodeID{}, nil)
	if s.schedule(now.Add(time.Second), onion.NodeID{}, nil) {
		t.Fatal("schedule accepted past the limit")
	}
	v.Advance(time.Second)
	if n != 3 {
		t.Fatalf("released %d", n)
	}
}

func TestSchedulerRealClock(t *testing.T) {
	done := make(chan time.Duration, 100)
	s := newScheduler(clock.Real(), 1000, func(_ onion.NodeID, _ []byte, due time.Time) { done <- time.Since(due) })
	for i := range 100 {
		s.schedule(time.Now().Add(time.Duration(i%10+1)*time.Millisecond), onion.NodeID{}, nil)
	}
	for range 100 {
		select {
		case late := <-done:
			if late < 0 {
				t.Fatalf("released %v early", -late)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("packets not released")
		}
	}
}

// TestSchedHeapOrder: whatever is pushed, pops come out by due time and, for
// equal times, in the order pushed.
func TestSchedHeapOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var h schedHeap
		n := rapid.IntRange(0, 200).Draw(t, "n")
		for i := range n {
			h.push(schedItem{due: int64(rapid.IntRange(0, 20).Draw(t, "due")), seq: uint64(i)})
		}
		var last schedItem
		for i := range n {
			it := h.pop()
			if i > 0 && (it.due < last.due || (it.due == last.due && it.seq < last.seq)) {
				t.Fatalf("popped %+v after %+v", it, last)
			}
			last = it
		}
		if len(h) != 0 {
			t.Fatal("items left")
		}
	})
}
