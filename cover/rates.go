package cover

import (
	"fmt"
	"math"
)

// Rates are a client's three stream rates, in packets per second, as the
// directory of the current epoch gives them (λP, λL, λD). A rate of 0 turns
// its stream off.
type Rates struct {
	RealOrDrop float64 // λP: the real-or-drop stream
	Loop       float64 // λL: loops back to the client
	Drop       float64 // λD: drops to a random service
}

// Validate reports a rate that is negative, not finite or above MaxRate.
// Streams treat such a rate as off (or clamp it), so a caller that wants to
// refuse a bad configuration checks it here first.
func (r Rates) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"real-or-drop", r.RealOrDrop}, {"loop", r.Loop}, {"drop", r.Drop}} {
		if err := validateRate(f.v); err != nil {
			return fmt.Errorf("%w: %s rate %v", err, f.name, f.v)
		}
	}
	return nil
}

func validateRate(v float64) error {
	if math.IsNaN(v) || v < 0 || v > MaxRate || math.Signbit(v) {
		return ErrConfig
	}
	return nil
}
