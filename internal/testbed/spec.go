//go:build linux

package testbed

import (
	"crypto/ed25519"
	"fmt"
	"net/netip"
	"time"

	"loam/cmd/loam-node/nodeconfig"
	"loam/internal/localnet"
	"loam/mailbox"
	"loam/mixnet/directory"
)

// Spec describes a bed. Zero values take the defaults noted.
type Spec struct {
	// Dir is a throwaway working directory: data directories, logs,
	// configurations. Required.
	Dir string
	// Bin is a directory holding loam-node, loam and tbclient (see Build).
	// Required.
	Bin string
	// Subnet holds every address of the bed; default 10.77.0.0/24.
	Subnet netip.Prefix

	Authorities   int // 3
	Gateways      int // 2
	MixesPerLayer int // 2
	Replicas      int // 3 mailbox replicas
	ClientHosts   int // 2 namespaces running tbclient
	UsersPerHost  int // 3 people in each
	// Friends is how many friends each person has (a ring: the Friends/2
	// people on either side); default 2.
	Friends int

	// Params are the authorities' network parameters; zero takes
	// BedParameters(5 s, 5 s, 8).
	Params directory.Parameters
	// Threshold of authority signatures; zero means a bare majority.
	Threshold int
	// MailboxEpoch, Retention and MaxSkew shape every person's feed
	// (feed.Config); defaults 6 h, 12 h and 10 min.
	MailboxEpoch, Retention, MaxSkew time.Duration
	// RetryBase and RetryMax shape the people's mailbox clients' waits
	// for an answer (mailbox.RetryPolicy); zero takes the defaults, 3 s
	// and 60 s, made for 20-minute epochs.
	RetryBase, RetryMax time.Duration
	// LogLevel of every node: debug, info (default), warn or error.
	LogLevel string
}

// BedParameters are the bed's network parameters: the production
// defaults with epochs and grace of the given lengths, a 5 ms mean mixing
// delay, and every client and node rate (λP, λL, λD, λM) multiplied by
// rateFactor.
//
// The grace bounds more than late packets: a client discards a real packet
// that waited half of it for its real-or-drop slot (it would find no key),
// so a grace of seconds, not production's 2 minutes, lets a burst of
// requests expire in the queue. The bed's graces leave the queue room for a
// sync's burst.
func BedParameters(epoch, grace time.Duration, rateFactor float64) directory.Parameters {
	p := directory.DefaultParameters()
	p.EpochPeriod = epoch
	p.Grace = grace
	p.Mu = 5 * time.Millisecond
	p.LambdaP *= rateFactor
	p.LambdaL *= rateFactor
	p.LambdaD *= rateFactor
	p.LambdaM *= rateFactor
	return p
}

// bedReplayCapacity keeps each node's replay filters small (about 2 MB a
// key rather than 9): a bed carries far fewer packets an epoch than a real
// network.
const bedReplayCapacity = 1 << 19

// Ports every host uses: hosts have addresses of their own, so every node
// listens on the same ports.
const (
	linkPort      = 7100
	authorityPort = 7000
	metricsPort   = 9100
)

func (s *Spec) defaults() error {
	if s.Dir == "" || s.Bin == "" {
		return fmt.Errorf("testbed: Spec.Dir and Spec.Bin are required")
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&s.Authorities, 3)
	def(&s.Gateways, 2)
	def(&s.MixesPerLayer, 2)
	def(&s.Replicas, 3)
	def(&s.ClientHosts, 2)
	def(&s.UsersPerHost, 3)
	def(&s.Friends, 2)
	if s.MixesPerLayer > 26 || s.Authorities > 9 || s.Gateways > 9 || s.Replicas > 9 || s.ClientHosts > 99 {
		return fmt.Errorf("testbed: at most 9 authorities, gateways and replicas, 26 mixes a layer and 99 client hosts")
	}
	users := s.ClientHosts * s.UsersPerHost
	if s.Friends < 1 || s.Friends%2 != 0 || s.Friends >= users {
		return fmt.Errorf("testbed: Friends %d: want an even number below the %d people", s.Friends, users)
	}
	if !s.Subnet.IsValid() {
		s.Subnet = netip.MustParsePrefix("10.77.0.0/24")
	}
	if s.Params == (directory.Parameters{}) {
		s.Params = BedParameters(5*time.Second, 5*time.Second, 8)
	}
	if err := s.Params.Validate(); err != nil {
		return fmt.Errorf("testbed: %w", err)
	}
	if s.MailboxEpoch == 0 {
		s.MailboxEpoch = 6 * time.Hour
	}
	if s.Retention == 0 {
		s.Retention = 12 * time.Hour
	}
	if s.MaxSkew == 0 {
		s.MaxSkew = 10 * time.Minute
	}
	if s.RetryBase == 0 {
		s.RetryBase = mailbox.DefaultRetryPolicy.Base
	}
	if s.RetryMax == 0 {
		s.RetryMax = mailbox.DefaultRetryPolicy.Max
	}
	if s.LogLevel == "" {
		s.LogLevel = "info"
	}
	return nil
}

// Node is one loam-node of the bed: a localnet node (its Listen and
// Metrics on its host's address) with the bed's additions.
type Node struct {
	localnet.Node
	Host *Host
	// Control is the node's fault rules file.
	Control string
	// Identity is the node's private key, read back for the security
	// checks that forge in an authority's name.
	Identity ed25519.PrivateKey
}

// RoleName is the row label of a node's role in reports.
func (n *Node) RoleName() string {
	if n.Role == nodeconfig.RoleService {
		return "replica"
	}
	return string(n.Role)
}
