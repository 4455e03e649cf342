package sim

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseDefaults(t *testing.T) {
	s, err := Parse([]byte(`name = "x"`))
	if err != nil {
		t.Fatal(err)
	}
	r := s.Rates
	if r.Mu != 20 || r.LambdaP != 2 || r.LambdaL != 0.5 || r.LambdaD != 0.5 || r.LambdaM != 0.5 || s.Name != "x" {
		t.Fatalf("rates %+v", r)
	}
	if s.Topology.Layers != 3 || s.Users.Count != 100 || s.Duration.Duration != time.Minute || !s.CoverOn() ||
		s.Crypto != CryptoModel || s.Warmup.Duration != 5*time.Second {
		t.Fatalf("defaults not applied: %+v", s)
	}
}

// A field written as zero stays zero: a rate of 0 turns its stream off.
func TestParseKeepsZero(t *testing.T) {
	s, err := Parse([]byte("[rates]\nlambda_l = 0\nlambda_d = 0.0\n[users]\nposts_per_hour = 0\nfriends = 0\n[adversary]\ntargets = 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Rates.LambdaL != 0 || s.Rates.LambdaD != 0 || s.Users.PostsPerHour != 0 || s.Users.Friends != 0 || s.Adversary.Targets != 0 {
		t.Fatalf("zeros replaced by defaults: %+v %+v", s.Rates, s.Users)
	}
	if s.Rates.LambdaP != 2 {
		t.Fatal("unset field not defaulted")
	}
}

// Each bad scenario fails with ErrScenario and an error that names the
// field.
func TestParseErrorsNameTheField(t *testing.T) {
	cases := []struct{ toml, field string }{
		{"duration = \"0s\"", "duration"},
		{"duration = \"banana\"", "duration"},
		{"duration = \"1m\"\nwarmup = \"2m\"", "warmup"},
		{"crypto = \"fast\"", "crypto"},
		{"[topology]\nlayers = 0", "topology.layers"},
		{"[topology]\nlayers = 20", "topology.layers"},
		{"[topology]\nmixes_per_layer = -1", "topology.mixes_per_layer"},
		{"[topology]\ngateways = 0", "topology.gateways"},
		{"[topology]\nservices = 0", "topology.services"},
		{"[topology]\nlink_latency = \"-1ms\"", "topology.link_latency"},
		{"[topology]\ngrace = \"30m\"", "topology.grace"},
		{"[rates]\nmu = 0", "rates.mu"},
		{"[rates]\nmu = nan", "rates.mu"},
		{"[rates]\nlambda_p = -1", "rates.lambda_p"},
		{"[rates]\nlambda_l = inf", "rates.lambda_l"},
		{"[rates]\nlambda_d = 1e9", "rates.lambda_d"},
		{"[rates]\nlambda_m = -0.5", "rates.lambda_m"},
		{"[rates]\nlambda_p = 0", "rates.lambda_p"}, // cover on and users send
		{"[users]\ncount = 1", "users.count"},
		{"[users]\ncount = 10\nfriends = 10", "users.friends"},
		{"[users]\ngraph = \"star\"", "users.graph"},
		{"[users]\nposters = 1.5", "users.posters"},
		{"[users]\nposts_per_hour = -1", "users.posts_per_hour"},
		{"[users]\npost_packets = -2", "users.post_packets"},
		{"[users]\nfetches_per_hour = -1", "users.fetches_per_hour"},
		{"[adversary]\ncompromised = 2", "adversary.compromised"},
		{"[adversary]\nsamples = -1", "adversary.samples"},
		{"[adversary]\ntargets = 1000", "adversary.targets"},
		{"[adversary]\ncheckpoints = 0", "adversary.checkpoints"},
		{"[users]\nfrends = 3", "users.frends"},
		{"[rates]\nlamda_p = 3", "rates.lamda_p"},
		{"seed = \"one\"", "line 1"},
		{"[users\ncount = 3", "line 2"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.toml))
		if err == nil {
			t.Errorf("%q: accepted", c.toml)
			continue
		}
		if !errors.Is(err, ErrScenario) {
			t.Errorf("%q: error %v is not ErrScenario", c.toml, err)
		}
		if !strings.Contains(err.Error(), c.field) {
			t.Errorf("%q: error %q does not name %s", c.toml, err, c.field)
		}
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	s := DefaultScenario()
	s.Name, s.Rates.LambdaL, s.Users.Graph = "round trip", 0, GraphRing
	b, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	gr, sr := got.Rates, s.Rates
	gr.Cover, sr.Cover = nil, nil
	if got.Name != s.Name || gr != sr || got.CoverOn() != s.CoverOn() || got.Users != s.Users || got.Topology != s.Topology ||
		got.Duration != s.Duration || got.Warmup != s.Warmup || got.Seed != s.Seed || got.Crypto != s.Crypto {
		t.Fatalf("round trip changed the scenario:\n%+v\n%+v", got, s)
	}
}

func TestWithParam(t *testing.T) {
	s := DefaultScenario()
	for _, c := range []struct {
		param, value string
		check        func(Scenario) bool
	}{
		{"rates.lambda_p", "4", func(s Scenario) bool { return s.Rates.LambdaP == 4 }},
		{"rates.mu", "2.5", func(s Scenario) bool { return s.Rates.Mu == 2.5 }},
		{"topology.mixes_per_layer", "7", func(s Scenario) bool { return s.Topology.MixesPerLayer == 7 }},
		{"users.graph", "ring", func(s Scenario) bool { return s.Users.Graph == GraphRing }},
		{"rates.cover", "false", func(s Scenario) bool { return !s.CoverOn() }},
		{"duration", "90s", func(s Scenario) bool { return s.Duration.Duration == 90*time.Second }},
	} {
		got, err := s.WithParam(c.param, c.value)
		if err != nil {
			t.Fatalf("%s=%s: %v", c.param, c.value, err)
		}
		if !c.check(got) {
			t.Fatalf("%s=%s not applied", c.param, c.value)
		}
	}
	for _, c := range []struct{ param, value string }{
		{"rates.lambda_q", "1"}, {"topology.layers", "2.5"}, {"rates.mu", "x"}, {"rates", "1"},
		{"rates.mu", "-1"}, {"nothing.here", "1"},
	} {
		if _, err := s.WithParam(c.param, c.value); !errors.Is(err, ErrScenario) {
			t.Fatalf("%s=%s: %v", c.param, c.value, err)
		}
	}
}

// The example scenarios all parse.
func TestExampleScenarios(t *testing.T) {
	files, err := filepath.Glob("scenarios/*.toml")
	if err != nil || len(files) < 4 {
		t.Fatalf("scenarios: %v %v", files, err)
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.toml")); !errors.Is(err, ErrScenario) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"", `name = "x"`, "[rates]\nmu = 3", "[users]\ncount = 5\nfriends = 2", "duration = \"1h\"",
		"[[x]]", "[topology]\nlayers = 9999999999999999999"} {
		f.Add([]byte(s))
	}
	if b, err := os.ReadFile("scenarios/default.toml"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrScenario) {
				t.Fatalf("error %v is not ErrScenario", err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("Parse accepted a scenario Validate rejects: %v", err)
		}
	})
}
