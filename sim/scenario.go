package sim

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Scenario is one simulation: the network, its rates, its users and the
// adversary watching it. Load or Parse reads one from TOML and fills the
// defaults; docs/sim.md lists every field.
type Scenario struct {
	Name string `toml:"name"`
	// Seed seeds every random choice the simulator makes (paths, delays,
	// users, the adversary's samples).
	Seed uint64 `toml:"seed"`
	// Duration is the virtual time simulated.
	Duration Duration `toml:"duration"`
	// Warmup is the virtual time at the start that the metrics ignore,
	// while the mixes fill.
	Warmup Duration `toml:"warmup"`
	// Crypto is "model" (default) or "real".
	Crypto string `toml:"crypto"`

	Topology  Topology  `toml:"topology"`
	Rates     Rates     `toml:"rates"`
	Users     Users     `toml:"users"`
	Adversary Adversary `toml:"adversary"`
}

// Topology is the stratified network.
type Topology struct {
	Layers        int `toml:"layers"`
	MixesPerLayer int `toml:"mixes_per_layer"`
	Gateways      int `toml:"gateways"`
	Services      int `toml:"services"`
	// LinkLatency is the one-way delay of every link.
	LinkLatency Duration `toml:"link_latency"`
	// Epoch and Grace are the key epoch and the grace of old keys
	// (SPEC.md §5.3).
	Epoch Duration `toml:"epoch"`
	Grace Duration `toml:"grace"`
}

// Rates are the directory's rates (SPEC.md §6.1).
type Rates struct {
	// Mu is μ, the rate of the exponential per-hop delay: its mean is 1/μ
	// seconds.
	Mu      float64 `toml:"mu"`
	LambdaP float64 `toml:"lambda_p"`
	LambdaL float64 `toml:"lambda_l"`
	LambdaD float64 `toml:"lambda_d"`
	LambdaM float64 `toml:"lambda_m"`
	// Cover false turns client cover off: clients send each real packet
	// at once and send no loops or drops (λP, λL and λD are ignored).
	Cover *bool `toml:"cover"`
}

// Users are the people behind the clients and what they do.
type Users struct {
	Count int `toml:"count"`
	// Friends is the mean number of friends a user has.
	Friends int `toml:"friends"`
	// Graph is "random" (uniform random friendships) or "ring" (each
	// user's friends are its nearest neighbours on a ring: clustered).
	Graph string `toml:"graph"`
	// Posters is the fraction of users who post at all.
	Posters float64 `toml:"posters"`
	// PostsPerHour is each poster's mean rate of posts (Poisson).
	PostsPerHour float64 `toml:"posts_per_hour"`
	// PostPackets is the number of content packets a post deposits at a
	// mailbox service, besides one header packet to each friend.
	PostPackets int `toml:"post_packets"`
	// FetchesPerHour is each user's rate of mailbox fetches, each a
	// request that a service answers through a reply block.
	FetchesPerHour float64 `toml:"fetches_per_hour"`
}

// Adversary is what the global passive adversary does beyond watching
// every link.
type Adversary struct {
	// Compromised is the fraction of mixes that reveal how they mixed.
	Compromised float64 `toml:"compromised"`
	// Samples is the number of packets leaving the last layer whose
	// sender the adversary estimates end to end (besides challenge
	// packets and posts).
	Samples int `toml:"samples"`
	// Challenges bounds the challenge packets scored for ε.
	Challenges int `toml:"challenges"`
	// Posts bounds the posts scored by the timing-correlation attack.
	Posts int `toml:"posts"`
	// Targets is the number of users the disclosure attack targets.
	Targets int `toml:"targets"`
	// Checkpoints is how many times over the run the disclosure attack
	// ranks its targets' recipients.
	Checkpoints int `toml:"checkpoints"`
	// CompareCover runs the scenario a second time with cover off (same
	// seed) to compare the disclosure attack with cover off and on.
	CompareCover *bool `toml:"compare_cover"`
}

// Duration is a time.Duration written in TOML as a string ("10m", "50ms").
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration as Go prints it.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// Bounds of the scenario's fields.
const (
	maxLayers   = 8
	maxMixes    = 1000
	maxNodes    = 10000
	maxUsers    = 1_000_000
	maxRate     = 1000.0 // per second, as the directory allows
	maxDuration = 7 * 24 * time.Hour
)

// DefaultScenario returns the defaults every field takes when a scenario
// leaves it out: the network defaults of SPEC.md (three layers, μ⁻¹ =
// 50 ms, λP = 2, λL = λD = λM = 0.5) with 100 users for one minute.
func DefaultScenario() Scenario {
	s := Scenario{}
	s.fillDefaults(func(...string) bool { return false })
	return s
}

// Load reads and validates a scenario file.
func Load(path string) (Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Scenario{}, fmt.Errorf("%w: %w", ErrScenario, err)
	}
	s, err := Parse(b)
	if err != nil {
		return Scenario{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Parse decodes a scenario from TOML, fills defaults and validates it. An
// unknown field is an error, so a misspelt one is not silently ignored.
func Parse(b []byte) (Scenario, error) {
	var s Scenario
	md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&s)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return Scenario{}, fmt.Errorf("%w: line %d: %s", ErrScenario, pe.Position.Line, pe.Message)
		}
		return Scenario{}, fmt.Errorf("%w: %w", ErrScenario, err)
	}
	if un := md.Undecoded(); len(un) > 0 {
		keys := make([]string, len(un))
		for i, k := range un {
			keys[i] = k.String()
		}
		return Scenario{}, fmt.Errorf("%w: unknown field %s", ErrScenario, strings.Join(keys, ", "))
	}
	s.fillDefaults(md.IsDefined)
	if err := s.Validate(); err != nil {
		return Scenario{}, err
	}
	return s, nil
}

// Encode writes the scenario as TOML, every default filled in.
func (s Scenario) Encode() ([]byte, error) {
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(s); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrScenario, err)
	}
	return buf.Bytes(), nil
}

// fillDefaults sets every field the file did not define (defined reports
// whether it did, by TOML key path). A field the file sets to zero stays
// zero: a rate of 0 turns its stream off.
func (s *Scenario) fillDefaults(defined func(key ...string) bool) {
	set := func(p any, def any, key ...string) {
		if defined(key...) {
			return
		}
		switch p := p.(type) {
		case *int:
			*p = def.(int)
		case *float64:
			*p = def.(float64)
		case *string:
			*p = def.(string)
		case *uint64:
			*p = def.(uint64)
		case *Duration:
			p.Duration = def.(time.Duration)
		case **bool:
			*p = ptr(def.(bool))
		}
	}
	set(&s.Name, "unnamed", "name")
	set(&s.Seed, uint64(1), "seed")
	set(&s.Duration, time.Minute, "duration")
	set(&s.Warmup, min(5*time.Second, s.Duration.Duration/10), "warmup")
	set(&s.Crypto, CryptoModel, "crypto")
	t := &s.Topology
	set(&t.Layers, 3, "topology", "layers")
	set(&t.MixesPerLayer, 3, "topology", "mixes_per_layer")
	set(&t.Gateways, 3, "topology", "gateways")
	set(&t.Services, 2, "topology", "services")
	set(&t.LinkLatency, time.Millisecond, "topology", "link_latency")
	set(&t.Epoch, 20*time.Minute, "topology", "epoch")
	set(&t.Grace, 2*time.Minute, "topology", "grace")
	r := &s.Rates
	set(&r.Mu, 20.0, "rates", "mu")
	set(&r.LambdaP, 2.0, "rates", "lambda_p")
	set(&r.LambdaL, 0.5, "rates", "lambda_l")
	set(&r.LambdaD, 0.5, "rates", "lambda_d")
	set(&r.LambdaM, 0.5, "rates", "lambda_m")
	set(&r.Cover, true, "rates", "cover")
	u := &s.Users
	set(&u.Count, 100, "users", "count")
	set(&u.Friends, 5, "users", "friends")
	set(&u.Graph, GraphRandom, "users", "graph")
	set(&u.Posters, 1.0, "users", "posters")
	set(&u.PostsPerHour, 6.0, "users", "posts_per_hour")
	set(&u.PostPackets, 1, "users", "post_packets")
	set(&u.FetchesPerHour, 60.0, "users", "fetches_per_hour")
	a := &s.Adversary
	set(&a.Compromised, 0.0, "adversary", "compromised")
	set(&a.Samples, 300, "adversary", "samples")
	set(&a.Challenges, 300, "adversary", "challenges")
	set(&a.Posts, 300, "adversary", "posts")
	set(&a.Targets, 5, "adversary", "targets")
	set(&a.Checkpoints, 40, "adversary", "checkpoints")
	set(&a.CompareCover, true, "adversary", "compare_cover")
	if s.Rates.Cover == nil {
		s.Rates.Cover = ptr(true)
	}
	if s.Adversary.CompareCover == nil {
		s.Adversary.CompareCover = ptr(true)
	}
}

func ptr[T any](v T) *T { return &v }

// Crypto modes and graph models.
const (
	CryptoModel = "model"
	CryptoReal  = "real"
	GraphRandom = "random"
	GraphRing   = "ring"
)

// CoverOn reports whether clients run their cover streams.
func (s Scenario) CoverOn() bool { return s.Rates.Cover == nil || *s.Rates.Cover }

// Validate reports the first field out of range, by its TOML name.
func (s Scenario) Validate() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("%w: %s = %v: want %s", ErrScenario, field, v, want)
	}
	switch {
	case s.Duration.Duration <= 0 || s.Duration.Duration > maxDuration:
		return bad("duration", s.Duration, "more than 0 and at most 168h")
	case s.Warmup.Duration < 0 || s.Warmup.Duration >= s.Duration.Duration:
		return bad("warmup", s.Warmup, "at least 0 and less than duration")
	case s.Crypto != CryptoModel && s.Crypto != CryptoReal:
		return bad("crypto", fmt.Sprintf("%q", s.Crypto), `"model" or "real"`)
	}
	t := s.Topology
	switch {
	case t.Layers < 1 || t.Layers > maxLayers:
		return bad("topology.layers", t.Layers, fmt.Sprintf("1 to %d", maxLayers))
	case t.MixesPerLayer < 1 || t.MixesPerLayer > maxMixes:
		return bad("topology.mixes_per_layer", t.MixesPerLayer, fmt.Sprintf("1 to %d", maxMixes))
	case t.Gateways < 1 || t.Gateways > maxNodes:
		return bad("topology.gateways", t.Gateways, fmt.Sprintf("1 to %d", maxNodes))
	case t.Services < 1 || t.Services > maxNodes:
		return bad("topology.services", t.Services, fmt.Sprintf("1 to %d", maxNodes))
	case t.LinkLatency.Duration < 0 || t.LinkLatency.Duration > time.Minute:
		return bad("topology.link_latency", t.LinkLatency, "0 to 1m")
	case t.Epoch.Duration < time.Second:
		return bad("topology.epoch", t.Epoch, "at least 1s")
	case t.Grace.Duration <= 0 || t.Grace.Duration >= t.Epoch.Duration:
		return bad("topology.grace", t.Grace, "more than 0 and less than topology.epoch")
	}
	r := s.Rates
	for _, f := range []struct {
		name string
		v    float64
	}{{"rates.lambda_p", r.LambdaP}, {"rates.lambda_l", r.LambdaL}, {"rates.lambda_d", r.LambdaD}, {"rates.lambda_m", r.LambdaM}} {
		if !(f.v >= 0 && f.v <= maxRate) {
			return bad(f.name, f.v, fmt.Sprintf("0 to %v per second", maxRate))
		}
	}
	if !(r.Mu > 0 && r.Mu <= 1e6) {
		return bad("rates.mu", r.Mu, "more than 0 and at most 1e6 per second (mean delay 1/mu)")
	}
	if s.CoverOn() && r.LambdaP == 0 && s.Users.PostsPerHour+s.Users.FetchesPerHour > 0 {
		return bad("rates.lambda_p", r.LambdaP, "more than 0 while cover is on and users send (real packets leave only in real-or-drop slots)")
	}
	u := s.Users
	switch {
	case u.Count < 2 || u.Count > maxUsers:
		return bad("users.count", u.Count, fmt.Sprintf("2 to %d", maxUsers))
	case u.Friends < 0 || u.Friends >= u.Count:
		return bad("users.friends", u.Friends, "0 to users.count − 1")
	case u.Graph != GraphRandom && u.Graph != GraphRing:
		return bad("users.graph", fmt.Sprintf("%q", u.Graph), `"random" or "ring"`)
	case !(u.Posters >= 0 && u.Posters <= 1):
		return bad("users.posters", u.Posters, "0 to 1")
	case !(u.PostsPerHour >= 0 && u.PostsPerHour <= 3600*maxRate):
		return bad("users.posts_per_hour", u.PostsPerHour, "at least 0")
	case u.PostPackets < 0 || u.PostPackets > 1000:
		return bad("users.post_packets", u.PostPackets, "0 to 1000")
	case !(u.FetchesPerHour >= 0 && u.FetchesPerHour <= 3600*maxRate):
		return bad("users.fetches_per_hour", u.FetchesPerHour, "at least 0")
	}
	a := s.Adversary
	switch {
	case !(a.Compromised >= 0 && a.Compromised <= 1):
		return bad("adversary.compromised", a.Compromised, "0 to 1")
	case a.Samples < 0 || a.Samples > 1_000_000:
		return bad("adversary.samples", a.Samples, "0 to 1000000")
	case a.Challenges < 0 || a.Challenges > 1_000_000:
		return bad("adversary.challenges", a.Challenges, "0 to 1000000")
	case a.Posts < 0 || a.Posts > 1_000_000:
		return bad("adversary.posts", a.Posts, "0 to 1000000")
	case a.Targets < 0 || a.Targets > u.Count:
		return bad("adversary.targets", a.Targets, "0 to users.count")
	case a.Checkpoints < 1 || a.Checkpoints > 10000:
		return bad("adversary.checkpoints", a.Checkpoints, "1 to 10000")
	}
	if n := t.Layers*t.MixesPerLayer + t.Gateways + t.Services; n > maxNodes {
		return bad("topology", n, fmt.Sprintf("at most %d nodes in all", maxNodes))
	}
	return nil
}
