package sim

import (
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"loam/internal/clock"
)

// vclock runs any schedule in exactly the order clock.Virtual does: by due
// time, then by order of scheduling; timers set by timers; timers stopped
// before, or after, they ran.
func TestVClockMatchesVirtual(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		start := time.Unix(1_000_000, 0)
		ref := clock.NewVirtual(start)
		vc := newVClock(start)
		type op struct {
			delay  time.Duration
			nested []time.Duration
			stop   bool
		}
		ops := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) op {
			d := func(l string) time.Duration {
				return time.Duration(rapid.IntRange(-2, 20).Draw(t, l)) * time.Millisecond // few values: many ties
			}
			return op{delay: d("delay"), nested: rapid.SliceOfN(rapid.Custom(func(t *rapid.T) time.Duration { return d("n") }), 0, 3).Draw(t, "nested"),
				stop: rapid.Bool().Draw(t, "stop")}
		}), 1, 60).Draw(t, "ops")
		run := func(c clock.Clock, trace *[]int) []clock.Timer {
			var timers []clock.Timer
			for i, o := range ops {
				timers = append(timers, c.AfterFunc(o.delay, func() {
					*trace = append(*trace, i)
					for j, n := range o.nested {
						c.AfterFunc(n, func() { *trace = append(*trace, 1000*(i+1)+j) })
					}
				}))
			}
			return timers
		}
		var a, b []int
		ta, tb := run(ref, &a), run(vc, &b)
		// Stop some before anything runs, advance, stop others after.
		for i, o := range ops {
			if o.stop && i%2 == 0 {
				if ta[i].Stop() != tb[i].Stop() {
					t.Fatalf("Stop %d disagrees", i)
				}
			}
		}
		mid := rapid.IntRange(0, 25).Draw(t, "mid")
		ref.Advance(time.Duration(mid) * time.Millisecond)
		vc.runUntil(int64(time.Duration(mid) * time.Millisecond))
		if !ref.Now().Equal(vc.Now()) {
			t.Fatalf("now %v vs %v", ref.Now(), vc.Now())
		}
		for i, o := range ops {
			if o.stop && i%2 == 1 {
				if ta[i].Stop() != tb[i].Stop() {
					t.Fatalf("late Stop %d disagrees", i)
				}
			}
		}
		ref.Advance(time.Second)
		vc.runUntil(int64(time.Duration(mid)*time.Millisecond + time.Second))
		if !slices.Equal(a, b) {
			t.Fatalf("order differs:\nvirtual %v\nvclock  %v", a, b)
		}
		if _, ok := vc.next(); ok {
			t.Fatal("vclock has calls left")
		}
	})
}

func TestVClockStep(t *testing.T) {
	vc := newVClock(time.Unix(0, 0))
	if vc.step() {
		t.Fatal("step with nothing scheduled")
	}
	ran := 0
	tm := vc.AfterFunc(time.Second, func() { ran++ })
	vc.AfterFunc(2*time.Second, func() { ran += 10 })
	if !tm.Stop() || tm.Stop() {
		t.Fatal("Stop reports wrongly")
	}
	if !vc.step() || ran != 10 || vc.Now() != time.Unix(2, 0) {
		t.Fatalf("ran %d at %v", ran, vc.Now())
	}
	if vc.step() {
		t.Fatal("stopped timer ran")
	}
}
