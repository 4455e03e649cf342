package cover

import (
	"testing"

	"pgregory.net/rapid"
)

// TestRingModel drives the ring and a plain slice with the same operations.
func TestRingModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var r ring[int]
		var model []int
		next := 0
		t.Repeat(map[string]func(*rapid.T){
			"pushBack": func(t *rapid.T) {
				r.pushBack(next)
				model = append(model, next)
				next++
			},
			"pushFront": func(t *rapid.T) {
				r.pushFront(next)
				model = append([]int{next}, model...)
				next++
			},
			"popFront": func(t *rapid.T) {
				if len(model) == 0 {
					t.Skip("empty")
				}
				if got := r.popFront(); got != model[0] {
					t.Fatalf("popFront = %d, want %d", got, model[0])
				}
				model = model[1:]
			},
			"": func(t *rapid.T) {
				if r.len() != len(model) {
					t.Fatalf("len %d, want %d", r.len(), len(model))
				}
				for i, v := range model {
					if *r.at(i) != v {
						t.Fatalf("at(%d) = %d, want %d", i, *r.at(i), v)
					}
				}
			},
		})
	})
}
