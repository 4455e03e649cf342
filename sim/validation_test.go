package sim

import (
	"context"
	"math"
	"testing"
	"time"
)

// Validation of the simulator against what is known. These run the whole
// simulation (real Routers, real cover streams) and take tens of seconds,
// so they are integration tests: `make test` runs them without the race
// detector, and they skip under -short.

// A single Poisson mix: its measured entropy is log2(e·λ/μ) within 5 %
// (Danezis 2004; Loopix §4), at λ/μ from 10 to 100.
func TestValidationMixEntropyIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	for _, users := range []int{70, 200, 700} {
		sc := DefaultScenario()
		sc.Name = "one mix"
		sc.Duration.Duration, sc.Warmup.Duration = 60*time.Second, 5*time.Second
		sc.Topology.Layers, sc.Topology.MixesPerLayer, sc.Topology.Gateways, sc.Topology.Services = 1, 1, 2, 1
		sc.Users.Count, sc.Users.PostsPerHour, sc.Users.FetchesPerHour = users, 0, 0
		sc.Adversary.Samples, sc.Adversary.Challenges, sc.Adversary.Posts, sc.Adversary.Targets = 0, 0, 0, 0
		res, err := Run(context.Background(), sc, Options{NoTwin: true})
		if err != nil {
			t.Fatal(err)
		}
		m := res.Mixes[0]
		got, want := float64(m.Entropy), float64(m.Theory)
		t.Logf("%d users: λ/μ = %.1f, %d outputs: mean entropy %.3f bits, log2(e·λ/μ) = %.3f (%+.1f%%)",
			users, float64(m.LambdaOverM), m.Outputs, got, want, 100*(got-want)/want)
		if float64(m.LambdaOverM) < 9 {
			t.Fatalf("λ/μ = %v: the setting does not have μ ≪ e·λ", m.LambdaOverM)
		}
		if math.IsNaN(got) || math.Abs(got-want)/want > 0.05 {
			t.Errorf("%d users: entropy %.3f bits is not within 5%% of %.3f", users, got, want)
		}
	}
}

// The disclosure attack finds a target's friends with cover off, and with
// the default cover needs many times longer.
func TestValidationDisclosureIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	sc := disclosureScenario()
	res, err := Run(context.Background(), sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ds := res.Disclosure
	off, on := ds.NoCover, ds.Run
	t.Logf("cover off: %d/%d targets found, median %v s; cover on: %d/%d found, median %v s (extrapolated %v s); factor %v (%s), lower bound %v",
		off.Found, len(off.Targets), off.Median, on.Found, len(on.Targets), on.Median, on.Extrapolated, ds.Factor, ds.FactorKind, ds.LowerBound)
	if off.Found*2 <= len(off.Targets) || math.IsInf(float64(off.Median), 0) {
		t.Fatalf("with cover off the attack found only %d of %d targets' friends", off.Found, len(off.Targets))
	}
	const many = 10
	// With cover the attack needs at least `many` times longer: either it
	// found them that much later, or not within a run that long.
	tOff := float64(off.Median)
	switch {
	case on.Found*2 > len(on.Targets) && float64(on.Median) < many*tOff:
		t.Fatalf("with cover the attack found the friends after %v s, under %d× the %v s it took without", on.Median, many, tOff)
	case on.Observed < many*tOff && on.Found*2 <= len(on.Targets):
		t.Fatalf("run too short to show a factor of %d", many)
	}
	if float64(ds.LowerBound) < many && ds.FactorKind != "measured" {
		t.Fatalf("factor %v (%s), lower bound %v", ds.Factor, ds.FactorKind, ds.LowerBound)
	}
}

// disclosureScenario is a small network whose users post often, so that
// the attack without cover succeeds within seconds of virtual time.
func disclosureScenario() Scenario {
	sc := DefaultScenario()
	sc.Name = "disclosure"
	sc.Duration.Duration, sc.Warmup.Duration = 90*time.Minute, 10*time.Second
	sc.Topology.Layers, sc.Topology.MixesPerLayer, sc.Topology.Gateways, sc.Topology.Services = 3, 3, 3, 2
	sc.Users.Count, sc.Users.Friends, sc.Users.PostsPerHour, sc.Users.FetchesPerHour = 100, 4, 120, 60
	sc.Adversary.Samples, sc.Adversary.Challenges, sc.Adversary.Posts = 0, 0, 0
	sc.Adversary.Targets, sc.Adversary.Checkpoints = 8, 1000
	return sc
}
