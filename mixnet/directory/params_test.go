package directory

import (
	"errors"
	"math"
	"testing"
	"time"

	"loam/onion"

	"pgregory.net/rapid"
)

func TestDefaultParameters(t *testing.T) {
	p := DefaultParameters()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if p.Geometry() != onion.DefaultGeometry {
		t.Fatalf("geometry %+v", p.Geometry())
	}
	want := Parameters{Hops: 5, UserPayload: 2048, Mu: 50 * time.Millisecond, LambdaP: 2, LambdaL: 0.5,
		LambdaD: 0.5, LambdaM: 0.5, EpochPeriod: 20 * time.Minute, Grace: 2 * time.Minute, Replicas: 3}
	if p != want {
		t.Fatalf("defaults %+v", p)
	}
	if b := appendParams(nil, p); len(b) != ParamsLen {
		t.Fatalf("encoding of %d bytes, want %d", len(b), ParamsLen)
	}
}

func TestParametersRules(t *testing.T) {
	cases := map[string]func(*Parameters){
		"hops 4":               func(p *Parameters) { p.Hops = 4 },
		"hops 17":              func(p *Parameters) { p.Hops = 17 },
		"payload 63":           func(p *Parameters) { p.UserPayload = 63 },
		"payload 65537":        func(p *Parameters) { p.UserPayload = 65537 },
		"mu 0":                 func(p *Parameters) { p.Mu = 0 },
		"mu fractional µs":     func(p *Parameters) { p.Mu = 1500 * time.Nanosecond },
		"mu above a minute":    func(p *Parameters) { p.Mu = time.Minute + time.Microsecond },
		"lambdaP 0":            func(p *Parameters) { p.LambdaP = 0 },
		"lambdaL negative":     func(p *Parameters) { p.LambdaL = -1 },
		"lambdaD negative 0":   func(p *Parameters) { p.LambdaD = math.Copysign(0, -1) },
		"lambdaM NaN":          func(p *Parameters) { p.LambdaM = math.NaN() },
		"lambdaP Inf":          func(p *Parameters) { p.LambdaP = math.Inf(1) },
		"lambdaP above 1000":   func(p *Parameters) { p.LambdaP = 1000.5 },
		"period under 1 s":     func(p *Parameters) { p.EpochPeriod = 999 * time.Millisecond },
		"period over a day":    func(p *Parameters) { p.EpochPeriod = 25 * time.Hour },
		"grace above period":   func(p *Parameters) { p.Grace = p.EpochPeriod + time.Second },
		"grace negative":       func(p *Parameters) { p.Grace = -time.Second },
		"replicas 0":           func(p *Parameters) { p.Replicas = 0 },
		"replicas 17":          func(p *Parameters) { p.Replicas = 17 },
		"period fractional µs": func(p *Parameters) { p.EpochPeriod = 3*time.Second + 1 },
	}
	for name, mutate := range cases {
		p := DefaultParameters()
		mutate(&p)
		if err := p.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	p := DefaultParameters()
	p.LambdaL, p.LambdaD, p.LambdaM, p.Grace = 0, 0, 0, 0
	if err := p.Validate(); err != nil {
		t.Fatalf("zero cover rates and grace: %v", err)
	}
}

// drawParams draws valid parameters.
func drawParams(t *rapid.T) Parameters {
	period := time.Duration(rapid.Int64Range(int64(minEpochPeriod/time.Microsecond), int64(maxEpochPeriod/time.Microsecond)).Draw(t, "period")) * time.Microsecond
	return Parameters{
		Hops:        rapid.IntRange(MixLayers+2, onion.MaxHops).Draw(t, "hops"),
		UserPayload: rapid.IntRange(onion.MinUserPayload, onion.MaxUserPayload).Draw(t, "payload"),
		Mu:          time.Duration(rapid.Int64Range(1, int64(maxMu/time.Microsecond)).Draw(t, "mu")) * time.Microsecond,
		LambdaP:     rapid.Float64Range(1e-6, maxLambda).Draw(t, "lp"),
		LambdaL:     rapid.Float64Range(0, maxLambda).Draw(t, "ll"),
		LambdaD:     rapid.Float64Range(0, maxLambda).Draw(t, "ld"),
		LambdaM:     rapid.Float64Range(0, maxLambda).Draw(t, "lm"),
		EpochPeriod: period,
		Grace:       time.Duration(rapid.Int64Range(0, int64(period/time.Microsecond)).Draw(t, "grace")) * time.Microsecond,
		Replicas:    rapid.IntRange(1, maxReplicas).Draw(t, "replicas"),
	}
}

func TestPropertyParamsRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := drawParams(t)
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
		r := &reader{b: appendParams(nil, p)}
		got := readParams(r)
		if err := r.done(); err != nil || got != p {
			t.Fatalf("round trip: %+v %v", got, err)
		}
	})
}

// TestPropertySchedule: every time lies in the epoch Epoch names, and epochs
// tile time without gaps.
func TestPropertySchedule(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := Schedule{Period: time.Duration(rapid.Int64Range(int64(time.Millisecond), int64(24*time.Hour)).Draw(t, "period"))}
		at := time.Unix(0, rapid.Int64Range(0, 1<<62).Draw(t, "t"))
		e := s.Epoch(at)
		if at.Before(s.Start(e)) || !at.Before(s.Start(e+1)) {
			t.Fatalf("%v not in epoch %d [%v, %v)", at, e, s.Start(e), s.Start(e+1))
		}
		if s.Start(e+1).Sub(s.Start(e)) != s.Period || s.Epoch(s.Start(e)) != e {
			t.Fatal("epochs do not tile")
		}
	})
}

func TestScheduleEdges(t *testing.T) {
	s := Schedule{Period: 20 * time.Minute}
	if s.Epoch(time.Unix(-5, 0)) != 0 || (Schedule{}).Epoch(time.Now()) != 0 {
		t.Fatal("edge epochs")
	}
	if got := s.Start(1 << 62); !got.Equal(time.Unix(0, math.MaxInt64)) {
		t.Fatalf("overflowing start %v", got)
	}
	if got := s.Epoch(time.Unix(3600, 0)); got != 3 {
		t.Fatalf("epoch %d", got)
	}
}
