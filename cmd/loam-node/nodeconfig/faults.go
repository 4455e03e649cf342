package nodeconfig

import (
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"loam/onion"
)

// [faults] is a testing aid, never a setting for a real network: it makes a
// node drop and delay its own outgoing packets so that the test bed
// (internal/testbed, docs/reliability.md) can show that nothing
// acknowledged is lost when links are lossy and slow. A [faults] section
// that asks for anything while enabled is false is refused, so a copied
// test configuration cannot turn faults on by accident.

// FaultsSection is [faults].
type FaultsSection struct {
	Enabled bool     `toml:"enabled"`
	Control string   `toml:"control"`
	Loss    float64  `toml:"loss"`
	Delay   string   `toml:"delay"`
	Jitter  string   `toml:"jitter"`
	Reorder float64  `toml:"reorder"`
	Hold    string   `toml:"reorder_hold"`
	To      []string `toml:"to"`
}

// Bounds of fault settings.
const (
	// MaxFaultDelay bounds delay and jitter: beyond it a link's handshake
	// (10 s) would time out, which a partition tests better.
	MaxFaultDelay = 5 * time.Second
	// MaxFaultRules bounds the rules of a control file.
	MaxFaultRules = 64
	maxControlLen = 64 << 10
)

// Faults is a checked [faults] section.
type Faults struct {
	Enabled bool
	// Control is the rules file (absolute), re-read while the node runs;
	// empty for none. Its rules replace Rule once it loads.
	Control string
	// Rule is the section's own rule: zero when it asks for nothing.
	Rule FaultRule
}

// FaultRule is one fault: what happens to the packets this node sends to
// the next hops it names.
type FaultRule struct {
	// To are the next hops the rule applies to; empty means every one.
	To []onion.NodeID
	// Loss is the probability that a packet is dropped.
	Loss float64
	// Delay is added to every write on a link to a next hop it applies to,
	// with a uniformly random share of Jitter on top; a link's order is
	// kept, so a later write never overtakes an earlier one.
	Delay, Jitter time.Duration
	// Reorder is the probability that a relayed packet is held back a
	// uniformly random time up to Hold past its mixing delay, so that
	// packets relayed after it overtake it on the link.
	Reorder float64
	Hold    time.Duration
}

// Applies reports whether the rule covers next.
func (r *FaultRule) Applies(next onion.NodeID) bool {
	if len(r.To) == 0 {
		return true
	}
	for _, id := range r.To {
		if id == next {
			return true
		}
	}
	return false
}

// Zero reports whether the rule injects nothing.
func (r *FaultRule) Zero() bool {
	return r.Loss == 0 && r.Delay == 0 && r.Jitter == 0 && (r.Reorder == 0 || r.Hold == 0)
}

// HasFaults reports whether the file has a [faults] section worth writing:
// one that differs from the defaults. The template uses it.
func (f *File) HasFaults() bool {
	d := Defaults().Faults
	s := f.Faults
	return s.Enabled != d.Enabled || s.Control != d.Control || s.Loss != d.Loss ||
		s.Delay != d.Delay || s.Jitter != d.Jitter || s.Reorder != d.Reorder || s.Hold != d.Hold || len(s.To) > 0
}

// faults checks [faults]: nodes only, and refused unless enabled.
func (k *checker) faults() {
	f, c := k.f, k.c
	s := f.Faults
	if !f.HasFaults() {
		return
	}
	if !s.Enabled {
		k.bad("faults", "fault injection is a testing aid and is off unless [faults] says enabled = true; remove the section (never enable it on a real network)")
		return
	}
	rule, problems := checkFaultRule(ruleText{s.Loss, s.Delay, s.Jitter, s.Reorder, s.Hold, s.To})
	for _, p := range problems {
		k.bad("faults."+p.Field, "%s", p.Msg)
	}
	c.Faults = Faults{Enabled: true, Control: k.under(s.Control), Rule: rule}
}

// ruleText is one rule as a file writes it.
type ruleText struct {
	loss          float64
	delay, jitter string
	reorder       float64
	hold          string
	to            []string
}

// checkFaultRule checks one rule's values; problems name their keys
// without a section.
func checkFaultRule(t ruleText) (FaultRule, []Problem) {
	var probs []Problem
	bad := func(field, format string, args ...any) {
		probs = append(probs, Problem{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	r := FaultRule{Loss: t.loss, Reorder: t.reorder}
	for _, p := range []struct {
		key string
		v   float64
	}{{"loss", t.loss}, {"reorder", t.reorder}} {
		if math.IsNaN(p.v) || p.v < 0 || p.v > 1 {
			bad(p.key, "want a probability from 0 to 1; got %v", p.v)
		}
	}
	dur := func(field, s string) time.Duration {
		if s == "" {
			return 0
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || d > MaxFaultDelay {
			bad(field, "want a duration from 0s to %s, such as \"100ms\"; got %q", FormatDuration(MaxFaultDelay), s)
			return 0
		}
		return d
	}
	r.Delay, r.Jitter, r.Hold = dur("delay", t.delay), dur("jitter", t.jitter), dur("reorder_hold", t.hold)
	if r.Reorder > 0 && r.Hold == 0 {
		bad("reorder_hold", "reorder holds packets back for up to reorder_hold; set it, such as \"200ms\"")
	}
	for i, s := range t.to {
		raw, err := hex.DecodeString(s)
		if err != nil || len(raw) != onion.NodeIDLen {
			bad(fmt.Sprintf("to[%d]", i), "want a node id: %d hex digits, as `loam-node show` prints it; got %q", 2*onion.NodeIDLen, s)
			continue
		}
		r.To = append(r.To, onion.NodeID(raw))
	}
	return r, probs
}

// FaultControl is a control file: the rules in force, replacing the
// [faults] section's own rule, and a version the node exports once it has
// loaded them (so a test knows when new rules took effect).
//
//	version = 3
//	[[rules]]
//	to = ["<node id>", ...]   # empty or absent: every next hop
//	loss = 0.05
//	delay = "100ms"
//	jitter = "50ms"
//	reorder = 0.2
//	reorder_hold = "200ms"
type FaultControl struct {
	Version int64
	Rules   []FaultRule
}

type controlFile struct {
	Version int64 `toml:"version"`
	Rules   []struct {
		To      []string `toml:"to"`
		Loss    float64  `toml:"loss"`
		Delay   string   `toml:"delay"`
		Jitter  string   `toml:"jitter"`
		Reorder float64  `toml:"reorder"`
		Hold    string   `toml:"reorder_hold"`
	} `toml:"rules"`
}

// ReadFaultControl reads and checks a control file.
func ReadFaultControl(path string) (*FaultControl, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, configErr(path, "", fmt.Sprintf("cannot read the fault rules: %v", unwrapPath(err)))
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxControlLen+1))
	if err != nil {
		return nil, configErr(path, "", fmt.Sprintf("cannot read the fault rules: %v", unwrapPath(err)))
	}
	if len(b) > maxControlLen {
		return nil, configErr(path, "", fmt.Sprintf("larger than %d bytes; not a fault rules file", maxControlLen))
	}
	return DecodeFaultControl(path, b)
}

// DecodeFaultControl is ReadFaultControl of text already read; path names
// it in errors.
func DecodeFaultControl(path string, text []byte) (*FaultControl, error) {
	var cf controlFile
	md, err := toml.Decode(string(text), &cf)
	if err != nil {
		return nil, decodeErr(path, err)
	}
	e := &Error{Path: path}
	for _, key := range md.Undecoded() {
		e.add(key.String(), "unknown key; a fault rules file has version and [[rules]] with to, loss, delay, jitter, reorder, reorder_hold")
	}
	if len(cf.Rules) > MaxFaultRules {
		e.add("rules", fmt.Sprintf("%d rules; at most %d", len(cf.Rules), MaxFaultRules))
	}
	if cf.Version < 0 {
		e.add("version", fmt.Sprintf("want 0 or more; got %d", cf.Version))
	}
	out := &FaultControl{Version: cf.Version}
	for i, r := range cf.Rules {
		if i >= MaxFaultRules {
			break
		}
		rule, probs := checkFaultRule(ruleText{r.Loss, r.Delay, r.Jitter, r.Reorder, r.Hold, r.To})
		for _, p := range probs {
			e.add(fmt.Sprintf("rules[%d].%s", i, p.Field), p.Msg)
		}
		out.Rules = append(out.Rules, rule)
	}
	if err := e.orNil(); err != nil {
		return nil, err
	}
	return out, nil
}

// EncodeFaultControl writes a control file that DecodeFaultControl reads
// back as c.
func EncodeFaultControl(c *FaultControl) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Fault rules (a testing aid): see [faults] in node.toml.\nversion = %d\n", c.Version)
	for _, r := range c.Rules {
		to := make([]string, len(r.To))
		for i, id := range r.To {
			to[i] = id.String()
		}
		fmt.Fprintf(&b, "\n[[rules]]\nto = %s\nloss = %s\ndelay = %s\njitter = %s\nreorder = %s\nreorder_hold = %s\n",
			tomlList(to), tomlFloat(r.Loss), tomlString(r.Delay.String()), tomlString(r.Jitter.String()),
			tomlFloat(r.Reorder), tomlString(r.Hold.String()))
	}
	return []byte(b.String())
}
