package nodeconfig

import (
	"bytes"
	"crypto/ed25519"
	"log/slog"
	"slices"
	"time"

	"loam/mailbox"
	"loam/mixnet"
	"loam/mixnet/directory"
	"loam/mixnet/link"
	"loam/onion"
)

// Role is what a loam-node process is: one of the three node roles of the
// directory, or a directory authority.
type Role string

// Roles, as written in node.toml.
const (
	RoleAuthority Role = "authority"
	RoleGateway   Role = "gateway"
	RoleMix       Role = "mix"
	RoleService   Role = "service"
)

// Roles lists every role in the order usage text names them.
var Roles = []Role{RoleAuthority, RoleGateway, RoleMix, RoleService}

// ParseRole parses a role's name.
func ParseRole(s string) (Role, bool) {
	for _, r := range Roles {
		if string(r) == s {
			return r, true
		}
	}
	return "", false
}

// Directory is the node role a descriptor carries; zero for an authority.
func (r Role) Directory() directory.Role {
	d, err := directory.ParseRole(string(r))
	if err != nil {
		return 0
	}
	return d
}

// KnownServices are the services this build of loam-node can run at a
// service node.
var KnownServices = []string{"echo", "mailbox"}

// Config is a checked configuration with its keys loaded: what `run`
// needs, in the types the mixnet and directory packages take.
type Config struct {
	Path string // the file it came from, as given
	Role Role
	Name string
	// Layer is a mix's layer, 1 to 3; zero for other roles.
	Layer int
	// DataDir is absolute: a relative data_dir is taken from the directory
	// of the configuration file.
	DataDir       string
	Listen        string // nodes: the link listener
	Advertise     string // nodes: published address; empty means Listen
	MetricsListen string // empty: no metrics listener
	LogLevel      slog.Level
	LogJSON       bool
	Services      []string // service nodes

	Network mixnet.Network // nodes

	// Threshold is the number of authority signatures a document needs,
	// resolved: a bare majority when the file says 0.
	Threshold   int
	Authorities []directory.Peer

	Limits Limits // nodes
	// Mailbox is the replica's store and service (service nodes offering
	// "mailbox").
	Mailbox Mailbox
	// Tor is a gateway's onion service.
	Tor Tor
	// Faults is fault injection for the test bed (nodes; a testing aid).
	Faults Faults

	AuthorityListen string        // authorities: the HTTP listener
	Bootstrap       time.Duration // authorities: zero means P/8
	Params          directory.Parameters

	// Identity signs descriptors (nodes) or votes and documents
	// (authorities). Nil when loaded without keys.
	Identity ed25519.PrivateKey
	// Link is a node's link key pair.
	Link link.KeyPair
}

// Limits are a node's queue bounds and memory tunables.
type Limits struct {
	Workers        int // zero: one per CPU
	Queue          int
	LinkQueue      int
	MaxScheduled   int
	ReplayCapacity uint64
	ReplayFP       float64
	ClientHold     int
	ClientHoldFor  time.Duration
}

// Mailbox is a checked [mailbox] section.
type Mailbox struct {
	Dir        string // absolute
	Limits     mailbox.Limits
	Workers    int
	Queue      int
	GCInterval time.Duration
}

// Tor is a checked [tor] section.
type Tor struct {
	Enabled          bool
	DataDir          string // absolute
	OnionPort        int
	Path             string // empty: tor on PATH
	Torrc            []string
	BootstrapTimeout time.Duration
}

// Offers reports whether a service node offers the named service.
func (c *Config) Offers(service string) bool { return slices.Contains(c.Services, service) }

// NodeID is the node's id in the directory (nodes with keys loaded).
func (c *Config) NodeID() onion.NodeID {
	return directory.NodeIDOf(c.Identity.Public().(ed25519.PublicKey))
}

// Self returns an authority's own entry among Authorities, found by its
// key; nil if it is not listed or the keys are not loaded.
func (c *Config) Self() *directory.Peer {
	if c.Identity == nil {
		return nil
	}
	pub := c.Identity.Public().(ed25519.PublicKey)
	for i := range c.Authorities {
		if bytes.Equal(c.Authorities[i].Key, pub) {
			return &c.Authorities[i]
		}
	}
	return nil
}

// Load reads, decodes and checks a configuration file and loads the keys
// in its data directory: everything `loam-node run` needs. Every problem
// is reported, each naming its field; the error wraps ErrInvalid.
func Load(path string) (*Config, error) {
	f, err := Parse(path)
	if err != nil {
		return nil, err
	}
	return f.check(path, checkOptions{keys: true, requireAuthorities: true})
}

// LoadIdentity is Load for `loam-node show`: it loads the keys but does not
// require the authorities to be filled in yet, so an operator can print a
// node's identity right after init.
func LoadIdentity(path string) (*Config, error) {
	f, err := Parse(path)
	if err != nil {
		return nil, err
	}
	return f.check(path, checkOptions{keys: true})
}

// Check checks f as Load does; path names it in errors and anchors a
// relative data_dir.
func (f *File) Check(path string) (*Config, error) {
	return f.check(path, checkOptions{keys: true, requireAuthorities: true})
}

// Validate checks f's values without loading keys or requiring the
// authorities: what `init` checks before it writes anything.
func (f *File) Validate(path string) error {
	_, err := f.check(path, checkOptions{})
	return err
}
