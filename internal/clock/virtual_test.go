package clock

import (
	"testing"
	"time"
)

func TestVirtualOrderAndStop(t *testing.T) {
	start := time.Unix(1000, 0)
	v := NewVirtual(start)
	var got []int
	v.AfterFunc(3*time.Second, func() { got = append(got, 3) })
	v.AfterFunc(time.Second, func() {
		got = append(got, 1)
		v.AfterFunc(time.Second, func() { got = append(got, 2) }) // due at 2s
	})
	stopped := v.AfterFunc(2*time.Second, func() { got = append(got, -1) })
	v.AfterFunc(3*time.Second, func() { got = append(got, 4) }) // same time: after "3"
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop reported wrongly")
	}
	v.Advance(2500 * time.Millisecond)
	if want := []int{1, 2}; !equal(got, want) {
		t.Fatalf("after 2.5s ran %v, want %v", got, want)
	}
	if !v.Now().Equal(start.Add(2500 * time.Millisecond)) {
		t.Fatalf("now = %v", v.Now())
	}
	v.Advance(time.Hour)
	if want := []int{1, 2, 3, 4}; !equal(got, want) {
		t.Fatalf("ran %v, want %v", got, want)
	}
	if v.Pending() != 0 || v.Step() {
		t.Fatal("events left over")
	}
}

func TestRealClockFires(t *testing.T) {
	done := make(chan struct{})
	Real().AfterFunc(time.Millisecond, func() { close(done) })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("real AfterFunc did not fire")
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
