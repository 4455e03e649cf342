//go:build unix

// Package localnet runs a whole Loam network as real loam-node processes on
// 127.0.0.1: directory authorities, gateways, mixes in three layers and
// service nodes, each with its own data directory, node.toml (written by
// `loam-node init` as an operator would) and log file. `make demo`, the
// process-level tests and fault injection (stop, kill, restart a node) use
// it; internal/testnet is the same network inside one process.
//
// Processes never outlive their harness: StopAll ends them (SIGTERM, then
// SIGKILL), a cancelled Start context kills them, each runs in its own
// process group that is killed as a backstop, and on Linux each gets
// SIGKILL if the harness process dies.
package localnet

import (
	"crypto/ed25519"
	"fmt"
	"net/http"
	"time"

	"loam/cmd/loam-node/nodeconfig"
	"loam/mixnet"
	"loam/mixnet/directory"
	"loam/onion"
)

// Spec describes a network. Zero values take the defaults noted.
type Spec struct {
	// Dir is a throwaway directory: one subdirectory and one log file per
	// node. Required.
	Dir string
	// Bin is a built loam-node (see Build). Required.
	Bin string

	Authorities   int // 3
	Gateways      int // 1
	MixesPerLayer int // 2, at most 26
	ServiceNodes  int // 1
	// Services names the services of service node i; nil gives {"echo"}.
	// A service node offering "mailbox" is a mailbox replica: its store is
	// a badger database in its data directory (mailbox/), so it keeps what
	// it acknowledged across a kill and a Restart.
	Services func(i int) []string
	// Params are the authorities' network parameters; zero takes
	// TestParameters().
	Params directory.Parameters
	// Threshold of authority signatures; zero means a bare majority.
	Threshold int
	// Bootstrap delay of the authorities; zero means a third of the epoch,
	// time enough for every node to upload its descriptor first.
	Bootstrap time.Duration
	// LogLevel of every process: debug, info (default), warn or error.
	LogLevel string
	// Configure, if set, adjusts each node's configuration before it is
	// written (limits, log format, a deliberate misconfiguration).
	Configure func(n *Node, f *nodeconfig.File)
}

// TestParameters are network parameters for process tests: 4-second epochs
// (a document within a few seconds of start), 5 ms mean mixing delay and a
// 2-second grace for packets in flight at an epoch change.
func TestParameters() directory.Parameters {
	p := directory.DefaultParameters()
	p.EpochPeriod = 4 * time.Second
	p.Grace = 2 * time.Second
	p.Mu = 5 * time.Millisecond
	return p
}

// testReplayCapacity keeps each node's replay filters small (about 300 KB
// per key instead of 9 MB): a test network carries few packets.
const testReplayCapacity = 1 << 16

func (s *Spec) defaults() error {
	if s.Dir == "" || s.Bin == "" {
		return fmt.Errorf("localnet: Spec.Dir and Spec.Bin are required")
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&s.Authorities, 3)
	def(&s.Gateways, 1)
	def(&s.MixesPerLayer, 2)
	def(&s.ServiceNodes, 1)
	if s.Authorities < 1 || s.Gateways < 1 || s.MixesPerLayer < 1 || s.ServiceNodes < 1 || s.MixesPerLayer > 26 {
		return fmt.Errorf("localnet: want at least one authority, gateway, mix per layer (at most 26) and service node")
	}
	if s.Services == nil {
		s.Services = func(int) []string { return []string{"echo"} }
	}
	if s.Params == (directory.Parameters{}) {
		s.Params = TestParameters()
	}
	if err := s.Params.Validate(); err != nil {
		return fmt.Errorf("localnet: %w", err)
	}
	if s.Bootstrap == 0 {
		s.Bootstrap = (s.Params.EpochPeriod / 3).Round(time.Millisecond)
	}
	if s.LogLevel == "" {
		s.LogLevel = "info"
	}
	return nil
}

// Node is one process of the network as generated.
type Node struct {
	Name  string
	Role  nodeconfig.Role
	Layer int
	// Dir is the node's data directory, Config its node.toml, Log the file
	// its stderr and stdout go to.
	Dir, Config, Log string
	// Listen is the link listener (nodes) or the HTTP API (authorities).
	Listen string
	// Metrics serves /metrics and /readyz.
	Metrics string
	// IdentityKey is the node's Ed25519 public key (an authority's signing
	// key); ID and LinkKey are zero for authorities.
	IdentityKey ed25519.PublicKey
	ID          onion.NodeID
	LinkKey     [32]byte
	// NextHops is the number of outgoing links the node keeps once ready.
	NextHops int
	// Services are a service node's services.
	Services []string
}

// Layout is a generated network, ready to start.
type Layout struct {
	Spec Spec // with defaults applied
	// Nodes lists authorities first, then gateways, mixes by layer and
	// service nodes: the order Start uses.
	Nodes []*Node
	// Peers are the authorities as nodes and clients trust them.
	Peers []directory.Peer
}

// Node returns the node called name, or nil.
func (l *Layout) Node(name string) *Node {
	for _, n := range l.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// NodeByID returns the node whose id is id, or nil.
func (l *Layout) NodeByID(id onion.NodeID) *Node {
	for _, n := range l.MixNodes() {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// Authorities returns the authority nodes.
func (l *Layout) Authorities() []*Node { return l.Nodes[:l.Spec.Authorities] }

// MixNodes returns every node that is not an authority.
func (l *Layout) MixNodes() []*Node { return l.Nodes[l.Spec.Authorities:] }

// Network is what clients of this network must agree on.
func (l *Layout) Network() mixnet.Network {
	return mixnet.Network{Geometry: l.Spec.Params.Geometry(), EpochPeriod: l.Spec.Params.EpochPeriod}
}

// Fetcher returns a directory fetcher that trusts this network's
// authorities, caching in cacheDir (empty: no cache).
func (l *Layout) Fetcher(cacheDir string) *directory.Fetcher {
	return &directory.Fetcher{Authorities: l.Peers, Threshold: l.Spec.Threshold, CacheDir: cacheDir,
		Client: &http.Client{Timeout: 5 * time.Second}}
}

// threshold is the number of signatures a document needs.
func (l *Layout) threshold() int { return Threshold(l.Spec.Threshold, len(l.Peers)) }

// Threshold is the number of signatures a document of a network of
// authorities needs: configured, or a bare majority where configured is
// zero.
func Threshold(configured, authorities int) int {
	if configured != 0 {
		return configured
	}
	return authorities/2 + 1
}
