package nodeconfig

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"loam/mixnet"
	"loam/mixnet/directory"
	"loam/onion"
)

type checkOptions struct {
	keys               bool // load identity.key (and link.key) from data_dir
	requireAuthorities bool // [[directory.authorities]] must list at least one
}

// Bounds of settings that the specification does not fix; they keep an
// operator's typo from asking for absurd memory.
const (
	maxWorkers        = 1024
	maxQueue          = 1 << 24
	maxReplayCapacity = 1 << 32
)

// checker collects problems while turning a File into a Config.
type checker struct {
	f    *File
	c    *Config
	errs *Error
}

func (k *checker) bad(field, format string, args ...any) {
	k.errs.add(field, fmt.Sprintf(format, args...))
}

func (f *File) check(path string, opts checkOptions) (*Config, error) {
	k := &checker{f: f, c: &Config{Path: path}, errs: &Error{Path: path}}
	role, ok := ParseRole(f.Role)
	switch {
	case f.Role == "":
		k.bad("role", "required: one of authority, gateway, mix or service")
		return nil, k.errs
	case !ok:
		k.bad("role", "%q is not a role; want authority, gateway, mix or service", f.Role)
		return nil, k.errs
	}
	k.c.Role = role
	k.common(path)
	if role == RoleAuthority {
		k.authority()
	} else {
		k.node()
	}
	k.directory(opts.requireAuthorities)
	if opts.keys && k.c.DataDir != "" {
		k.keys()
	}
	if err := k.errs.orNil(); err != nil {
		return nil, err
	}
	return k.c, nil
}

// set reports whether the file set key at the top level (for a File
// decoded from text) or holds a non-zero value for it (a File built in
// code).
func (f *File) set(key string, nonZero bool) bool {
	if f.present != nil {
		return f.present[key]
	}
	return nonZero
}

// common checks what every role has.
func (k *checker) common(path string) {
	f, c := k.f, k.c
	if msg := nameProblem(f.Name); msg != "" {
		k.bad("name", "%s", msg)
	}
	c.Name = f.Name
	switch {
	case c.Role == RoleMix && (f.Layer < 1 || f.Layer > directory.MixLayers):
		k.bad("layer", "a mix is in layer 1, 2 or 3; got %d", f.Layer)
	case c.Role != RoleMix && f.Layer != 0:
		k.bad("layer", "only mixes have a layer; remove it for a %s (got %d)", c.Role, f.Layer)
	}
	c.Layer = f.Layer
	if f.DataDir == "" {
		k.bad("data_dir", "required: the directory holding the keys (relative to this file's directory)")
	} else {
		dir := f.DataDir
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(filepath.Dir(path), dir)
		}
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
		c.DataDir = dir
	}
	if f.MetricsListen != "" {
		if msg := listenProblem(f.MetricsListen); msg != "" {
			k.bad("metrics_listen", "%s (empty disables metrics)", msg)
		}
	}
	c.MetricsListen = f.MetricsListen
	levels := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}
	if lv, ok := levels[f.LogLevel]; ok {
		c.LogLevel = lv
	} else {
		k.bad("log_level", "want debug, info, warn or error; got %q", f.LogLevel)
	}
	switch f.LogFormat {
	case "text":
	case "json":
		c.LogJSON = true
	default:
		k.bad("log_format", "want text or json; got %q", f.LogFormat)
	}
}

// node checks a gateway's, mix's or service node's settings.
func (k *checker) node() {
	f, c := k.f, k.c
	if f.Listen == "" {
		k.bad("listen", "required: host:port for the link listener, such as 127.0.0.1:7100")
	} else if msg := listenProblem(f.Listen); msg != "" {
		k.bad("listen", "%s", msg)
	}
	c.Listen = f.Listen
	switch {
	case f.Advertise != "":
		if msg := advertiseProblem(f.Advertise); msg != "" {
			k.bad("advertise", "%s", msg)
		}
	case f.Listen != "" && UnspecifiedHost(f.Listen):
		k.bad("advertise", "required when listen (%s) binds every interface: the host:port peers dial", f.Listen)
	}
	c.Advertise = f.Advertise
	k.services()
	k.network()
	k.limits()
	k.mailbox()
	k.tor()
	k.faults()
	if f.set("authority", false) {
		k.bad("authority", "only an authority has an [authority] section; this is a %s", c.Role)
	}
}

func (k *checker) services() {
	f, c := k.f, k.c
	if c.Role != RoleService {
		if len(f.Services) > 0 {
			k.bad("services", "only service nodes run services; remove it for a %s", c.Role)
		}
		return
	}
	if len(f.Services) == 0 || len(f.Services) > directory.MaxServices {
		k.bad("services", "a service node offers 1 to %d services (known: %s); got %d",
			directory.MaxServices, strings.Join(KnownServices, ", "), len(f.Services))
		return
	}
	seen := map[string]bool{}
	for _, s := range f.Services {
		switch {
		case !slices.Contains(KnownServices, s):
			k.bad("services", "unknown service %q; this build offers %s", s, strings.Join(KnownServices, ", "))
		case seen[s]:
			k.bad("services", "%q listed twice", s)
		}
		seen[s] = true
	}
	c.Services = slices.Sorted(slices.Values(f.Services))
}

func (k *checker) network() {
	n := k.f.Network
	k.hops("network.hops", n.Hops)
	k.userPayload("network.user_payload", n.UserPayload)
	period := k.epochPeriod("network.epoch_period", n.EpochPeriod)
	k.c.Network = mixnet.Network{Geometry: onion.Geometry{Hops: n.Hops, UserPayload: n.UserPayload}, EpochPeriod: period}
}

func (k *checker) hops(field string, v int) {
	if v < directory.MixLayers+2 || v > onion.MaxHops {
		k.bad(field, "want %d to %d (a gateway, %d mix layers and a service need %d); got %d",
			directory.MixLayers+2, onion.MaxHops, directory.MixLayers, directory.MixLayers+2, v)
	}
}

func (k *checker) userPayload(field string, v int) {
	if v < onion.MinUserPayload || v > onion.MaxUserPayload {
		k.bad(field, "want %d to %d bytes; got %d", onion.MinUserPayload, onion.MaxUserPayload, v)
	}
}

func (k *checker) epochPeriod(field, s string) time.Duration {
	return k.duration(field, s, time.Second, 24*time.Hour, true)
}

func (k *checker) limits() {
	l := k.f.Limits
	k.intRange("limits.workers", l.Workers, 0, maxWorkers, " (0 means one per CPU)")
	k.intRange("limits.queue", l.Queue, 1, maxQueue, "")
	k.intRange("limits.link_queue", l.LinkQueue, 1, maxQueue, "")
	k.intRange("limits.max_scheduled", l.MaxScheduled, 1, maxQueue, "")
	k.intRange("limits.client_hold", l.ClientHold, 1, maxQueue, "")
	if l.ReplayCapacity < 1 || l.ReplayCapacity > maxReplayCapacity {
		k.bad("limits.replay_capacity", "want 1 to %d tags; got %d", int64(maxReplayCapacity), l.ReplayCapacity)
	}
	if !(l.ReplayFP >= mixnet.MinReplayFP && l.ReplayFP < 1) {
		k.bad("limits.replay_fp", "want a false-positive rate from %g to below 1, such as 1e-6; got %v", mixnet.MinReplayFP, l.ReplayFP)
	}
	holdFor := k.duration("limits.client_hold_for", l.ClientHoldFor, time.Second, 7*24*time.Hour, false)
	k.c.Limits = Limits{Workers: l.Workers, Queue: l.Queue, LinkQueue: l.LinkQueue, MaxScheduled: l.MaxScheduled,
		ReplayCapacity: uint64(max(l.ReplayCapacity, 0)), ReplayFP: l.ReplayFP, ClientHold: l.ClientHold, ClientHoldFor: holdFor}
}

func (k *checker) intRange(field string, v, lo, hi int, note string) {
	if v < lo || v > hi {
		k.bad(field, "want %d to %d%s; got %d", lo, hi, note, v)
	}
}

// authority checks a directory authority's settings.
func (k *checker) authority() {
	f, c := k.f, k.c
	for _, s := range []struct {
		key  string
		set  bool
		what string
	}{
		{"listen", f.Listen != "", "an authority listens at authority.listen"},
		{"advertise", f.Advertise != "", "an authority is reached at its url in [[directory.authorities]]"},
		{"services", len(f.Services) > 0, "only service nodes run services"},
		{"network", false, "an authority's network is [authority.parameters]"},
		{"limits", false, "an authority has no packet queues"},
		{"mailbox", false, "only a service node offering \"mailbox\" has a [mailbox] section"},
		{"tor", false, "only a gateway runs Tor"},
		{"faults", f.HasFaults(), "fault injection (a testing aid) applies to a node's packets; an authority sends none"},
	} {
		if f.set(s.key, s.set) {
			k.bad(s.key, "%s; remove it", s.what)
		}
	}
	a := f.Authority
	if a.Listen == "" {
		k.bad("authority.listen", "required: host:port for the authority's HTTP API, such as 127.0.0.1:7000")
	} else if msg := listenProblem(a.Listen); msg != "" {
		k.bad("authority.listen", "%s", msg)
	}
	c.AuthorityListen = a.Listen
	c.Params = k.parameters(a.Parameters)
	if a.Bootstrap != "" {
		c.Bootstrap = k.duration("authority.bootstrap", a.Bootstrap, 0, 24*time.Hour, false)
		if P := c.Params.EpochPeriod; P > 0 && c.Bootstrap >= P {
			k.bad("authority.bootstrap", "want less than the epoch period (%s); got %s", FormatDuration(P), a.Bootstrap)
		}
	}
}

// parameters checks [authority.parameters] field by field against the
// bounds of SPEC.md §3.4, then asks the directory package to agree.
func (k *checker) parameters(s ParametersSection) directory.Parameters {
	const pre = "authority.parameters."
	p := directory.Parameters{Hops: s.Hops, UserPayload: s.UserPayload, LambdaP: s.LambdaP, LambdaL: s.LambdaL,
		LambdaD: s.LambdaD, LambdaM: s.LambdaM, Replicas: s.Replicas}
	n := len(k.errs.Problems)
	k.hops(pre+"hops", s.Hops)
	k.userPayload(pre+"user_payload", s.UserPayload)
	p.Mu = k.duration(pre+"mu", s.Mu, time.Microsecond, time.Minute, true)
	for _, r := range []struct {
		name     string
		v        float64
		positive bool
	}{{"lambda_p", s.LambdaP, true}, {"lambda_l", s.LambdaL, false}, {"lambda_d", s.LambdaD, false}, {"lambda_m", s.LambdaM, false}} {
		if math.IsNaN(r.v) || math.Signbit(r.v) || r.v > 1000 || (r.positive && r.v == 0) {
			lo := "0"
			if r.positive {
				lo = "above 0"
			}
			k.bad(pre+r.name, "want a rate per second from %s to 1000; got %v", lo, r.v)
		}
	}
	p.EpochPeriod = k.epochPeriod(pre+"epoch_period", s.EpochPeriod)
	p.Grace = k.duration(pre+"grace", s.Grace, 0, 24*time.Hour, true)
	if p.EpochPeriod > 0 && p.Grace > p.EpochPeriod {
		k.bad(pre+"grace", "want at most the epoch period (%s); got %s", s.EpochPeriod, s.Grace)
	}
	if s.Replicas < 1 || s.Replicas > 16 {
		k.bad(pre+"replicas", "want 1 to 16; got %d", s.Replicas)
	}
	if len(k.errs.Problems) == n {
		if err := p.Validate(); err != nil {
			k.bad("authority.parameters", "%v", err)
		}
	}
	return p
}

// directory checks [directory]: the authorities and the threshold.
func (k *checker) directory(required bool) {
	d := k.f.Directory
	n := len(d.Authorities)
	switch {
	case n == 0 && required:
		k.bad("directory.authorities", "none listed; add one [[directory.authorities]] entry (key, url) per authority, as `loam-node show` prints it on each")
	case n > directory.MaxAuthorities:
		k.bad("directory.authorities", "%d listed; at most %d", n, directory.MaxAuthorities)
	}
	seen := map[string]int{}
	for i, e := range d.Authorities {
		field := fmt.Sprintf("directory.authorities[%d]", i)
		key, err := DecodeKey(e.Key)
		switch {
		case e.Key == "":
			k.bad(field+".key", "required: the authority's public key, as `loam-node show` prints it")
		case err != nil:
			k.bad(field+".key", "%v", err)
		default:
			if j, dup := seen[string(key)]; dup {
				k.bad(field+".key", "the same authority as directory.authorities[%d]", j)
			}
			seen[string(key)] = i
		}
		if msg := urlProblem(e.URL); msg != "" {
			k.bad(field+".url", "%s", msg)
		}
		k.c.Authorities = append(k.c.Authorities, directory.Peer{Key: key, URL: e.URL})
	}
	t := d.Threshold
	switch {
	case t < 0:
		k.bad("directory.threshold", "want 0 (a bare majority) or a majority of the authorities; got %d", t)
	case n == 0:
	case t == 0:
		t = n/2 + 1
	case t > n:
		k.bad("directory.threshold", "%d signatures but only %d authorities listed; want %d to %d (0 means a bare majority)", t, n, n/2+1, n)
	case t <= n/2:
		k.bad("directory.threshold", "%d of %d authorities is not a majority, so two documents of one epoch could both be accepted; want %d to %d", t, n, n/2+1, n)
	}
	k.c.Threshold = t
}

// keys loads the key files from the data directory.
func (k *checker) keys() {
	c := k.c
	id, err := ReadIdentity(filepath.Join(c.DataDir, IdentityFile))
	if err != nil {
		k.bad("data_dir", "%v", err)
		return
	}
	c.Identity = id
	if c.Role == RoleAuthority {
		if len(c.Authorities) > 0 && c.Self() == nil {
			k.bad("directory.authorities", "this authority's own key (%s, from %s) is not listed; every authority lists all of them, itself included",
				EncodeKey(id.Public().(ed25519.PublicKey)), IdentityFile)
		}
		return
	}
	lk, err := ReadLink(filepath.Join(c.DataDir, LinkFile))
	if err != nil {
		k.bad("data_dir", "%v", err)
		return
	}
	c.Link = lk
}

// duration parses a duration field and checks its range. micros requires a
// whole number of microseconds, which the directory encoding needs.
func (k *checker) duration(field, s string, lo, hi time.Duration, micros bool) time.Duration {
	if s == "" {
		k.bad(field, "required: a duration such as %q", FormatDuration(max(lo, time.Second)))
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		k.bad(field, "%q is not a duration; write it like \"20m\", \"4s\" or \"50ms\"", s)
		return 0
	}
	if d < lo || d > hi {
		k.bad(field, "want %s to %s; got %s", FormatDuration(lo), FormatDuration(hi), s)
		return 0
	}
	if micros && d%time.Microsecond != 0 {
		k.bad(field, "want a whole number of microseconds; got %s", s)
		return 0
	}
	return d
}

// nameProblem checks a descriptor name: 1 to 64 bytes of UTF-8 without
// control characters.
func nameProblem(s string) string {
	switch {
	case s == "":
		return "required: 1 to 64 bytes naming this node in the directory and logs"
	case len(s) > directory.MaxNameLen:
		return fmt.Sprintf("at most %d bytes; got %d", directory.MaxNameLen, len(s))
	case !utf8.ValidString(s):
		return "not valid UTF-8"
	case strings.ContainsFunc(s, unicode.IsControl):
		return "control characters are not allowed"
	}
	return ""
}

// listenProblem checks an address to listen on: host:port with a port of
// 1 to 65535; an empty host binds every interface. Port 0 would pick a new
// port at every start, which no peer could follow.
func listenProblem(s string) string {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf("want host:port such as 127.0.0.1:7100; got %q", s)
	}
	if !canonicalPort(port) {
		return fmt.Sprintf("port %q: want 1 to 65535", port)
	}
	return ""
}

// advertiseProblem checks an address published in a descriptor
// (SPEC.md §3.3): printable ASCII, a host, a canonical port of 1 to 65535.
func advertiseProblem(s string) string {
	if msg := listenProblem(s); msg != "" {
		return msg
	}
	if len(s) > directory.MaxAddressLen {
		return fmt.Sprintf("at most %d bytes", directory.MaxAddressLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return "printable ASCII only"
		}
	}
	if UnspecifiedHost(s) {
		return fmt.Sprintf("%q is not an address peers can dial; give this machine's address", s)
	}
	return ""
}

func canonicalPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == p
}

// UnspecifiedHost reports whether a host:port binds every interface (no
// host, 0.0.0.0 or [::]), so that it cannot be published for peers to dial.
func UnspecifiedHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsUnspecified()
}

// urlProblem checks an authority's base URL: http or https, a host, no
// query, fragment or credentials.
func urlProblem(s string) string {
	if s == "" {
		return "required: the authority's base URL, such as http://127.0.0.1:7000"
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" || bytes.ContainsAny([]byte(s), " \t\n") {
		return fmt.Sprintf("want http://host:port or https://host:port; got %q", s)
	}
	return ""
}

// FormatDuration writes a duration the way an operator would: "20m", "4s",
// "50ms" rather than Go's "20m0s".
func FormatDuration(d time.Duration) string {
	units := []struct {
		unit time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}, {time.Microsecond, "us"}}
	for _, u := range units {
		if d != 0 && d%u.unit == 0 {
			return strconv.FormatInt(int64(d/u.unit), 10) + u.name
		}
	}
	if d == 0 {
		return "0s"
	}
	return d.String()
}
