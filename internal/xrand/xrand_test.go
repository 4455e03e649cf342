package xrand

import (
	"math"
	"testing"
	"time"
)

func TestExpMean(t *testing.T) {
	const n = 200000
	mean := 50 * time.Millisecond
	var sum float64
	for range n {
		d := Exp(mean)
		if d < 0 {
			t.Fatal("negative sample")
		}
		sum += float64(d)
	}
	got := sum / n
	// The sample mean's standard error is mean/sqrt(n) ≈ 0.22 %.
	if math.Abs(got-float64(mean))/float64(mean) > 0.015 {
		t.Fatalf("sample mean %v, want %v", time.Duration(got), mean)
	}
}

func TestIntNUniform(t *testing.T) {
	counts := make([]int, 7)
	const n = 70000
	for range n {
		counts[IntN(7)]++
	}
	for i, c := range counts {
		if c < 9400 || c > 10600 {
			t.Fatalf("value %d drawn %d times of %d", i, c, n)
		}
	}
}

func TestFloat64Range(t *testing.T) {
	for range 100000 {
		if f := Float64(); f <= 0 || f > 1 {
			t.Fatalf("Float64 = %v", f)
		}
	}
}
