//go:build linux

package testbed

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"loam/cmd/loam-node/nodeconfig"
	"loam/cmd/loam/netfile"
	"loam/internal/localnet"
	"loam/mailbox"
	"loam/mixnet/directory"
)

// generate lays out the nodes: a host each, `loam-node init` as an
// operator runs it, identities read back with `loam-node show --json`, and
// every node.toml filled in. Nodes and clients reach the authorities
// through the directory proxy; authorities reach each other directly.
func (b *Bed) generate(ctx context.Context) error {
	s := &b.Spec
	add := func(name string, role nodeconfig.Role, layer int) error {
		h, err := b.Net.AddHost(ctx, name)
		if err != nil {
			return err
		}
		dir := filepath.Join(s.Dir, "nodes", name)
		n := &Node{Node: localnet.Node{Name: name, Role: role, Layer: layer, Dir: dir,
			Config: filepath.Join(dir, "node.toml"), Log: filepath.Join(s.Dir, "logs", name+".log"),
			Metrics: net.JoinHostPort(h.Addr.String(), strconv.Itoa(metricsPort))},
			Host: h, Control: filepath.Join(dir, "faults.toml")}
		port := linkPort
		if role == nodeconfig.RoleAuthority {
			port = authorityPort
		}
		n.Listen = net.JoinHostPort(h.Addr.String(), strconv.Itoa(port))
		b.Nodes = append(b.Nodes, n)
		return nil
	}
	for i := range s.Authorities {
		if err := add(fmt.Sprintf("authority-%d", i), nodeconfig.RoleAuthority, 0); err != nil {
			return err
		}
	}
	for i := range s.Gateways {
		if err := add(fmt.Sprintf("gateway-%d", i), nodeconfig.RoleGateway, 0); err != nil {
			return err
		}
	}
	for layer := 1; layer <= 3; layer++ {
		for i := range s.MixesPerLayer {
			if err := add(fmt.Sprintf("mix-%d%c", layer, 'a'+i), nodeconfig.RoleMix, layer); err != nil {
				return err
			}
		}
	}
	for i := range s.Replicas {
		if err := add(fmt.Sprintf("replica-%d", i), nodeconfig.RoleService, 0); err != nil {
			return err
		}
	}
	for _, d := range []string{"nodes", "logs"} {
		if err := os.MkdirAll(filepath.Join(s.Dir, d), 0o700); err != nil {
			return fmt.Errorf("testbed: %w", err)
		}
	}
	bin := filepath.Join(s.Bin, "loam-node")
	for _, n := range b.Nodes {
		n.NextHops = b.nextHops(n)
		if n.Role == nodeconfig.RoleService {
			n.Services = []string{mailbox.ServiceName}
		}
		if err := localnet.InitNode(ctx, bin, &n.Node); err != nil {
			return err
		}
	}
	var direct []nodeconfig.AuthorityEntry
	for i, a := range b.Authorities() {
		direct = append(direct, nodeconfig.AuthorityEntry{Key: nodeconfig.EncodeKey(a.IdentityKey), URL: "http://" + a.Listen})
		b.Peers = append(b.Peers, directory.Peer{Key: a.IdentityKey, URL: "http://" + a.Listen})
		b.ProxyPeers = append(b.ProxyPeers, directory.Peer{Key: a.IdentityKey, URL: "http://" + b.proxyAddr(i)})
	}
	var proxied []nodeconfig.AuthorityEntry
	for _, p := range b.ProxyPeers {
		proxied = append(proxied, nodeconfig.AuthorityEntry{Key: nodeconfig.EncodeKey(p.Key), URL: p.URL})
	}
	for _, n := range b.Nodes {
		entries := proxied
		if n.Role == nodeconfig.RoleAuthority {
			entries = direct
		}
		if err := b.configure(n, entries); err != nil {
			return err
		}
	}
	return b.writeNetFile()
}

// proxyAddr is where nodes and clients reach authority i: the directory
// proxy, which passes requests on (and forges documents when told to).
func (b *Bed) proxyAddr(i int) string {
	return net.JoinHostPort(b.DirProxy.Addr.String(), strconv.Itoa(authorityPort+i))
}

// configure fills in a node.toml that init wrote and checks it.
func (b *Bed) configure(n *Node, authorities []nodeconfig.AuthorityEntry) error {
	f, err := nodeconfig.Parse(n.Config)
	if err != nil {
		return fmt.Errorf("testbed: %w", err)
	}
	p := b.Spec.Params
	f.LogLevel = b.Spec.LogLevel
	f.Directory.Threshold = b.Spec.Threshold
	f.Directory.Authorities = authorities
	if n.Role == nodeconfig.RoleAuthority {
		f.Authority.Parameters = nodeconfig.ParametersOf(p)
		f.Authority.Bootstrap = nodeconfig.FormatDuration((p.EpochPeriod / 3).Round(time.Millisecond))
	} else {
		f.Network = nodeconfig.NetworkSection{Hops: p.Hops, UserPayload: p.UserPayload,
			EpochPeriod: nodeconfig.FormatDuration(p.EpochPeriod)}
		f.Limits.ReplayCapacity = bedReplayCapacity
		// Every node can be given faults while it runs: the control file
		// starts empty, so none are in force.
		f.Faults = nodeconfig.FaultsSection{Enabled: true, Control: filepath.Base(n.Control), Delay: "0s", Jitter: "0s"}
	}
	if err := f.Write(n.Config, true); err != nil {
		return fmt.Errorf("testbed: %w", err)
	}
	cfg, err := nodeconfig.Load(n.Config)
	if err != nil {
		return fmt.Errorf("testbed: generated configuration does not load: %w", err)
	}
	n.Identity = cfg.Identity
	return nil
}

// nextHops counts the links a node opens (SPEC.md §5.1): gateways and
// replicas to layer 1, each layer to the next, layer 3 to every replica
// and gateway.
func (b *Bed) nextHops(n *Node) int {
	switch {
	case n.Role == nodeconfig.RoleAuthority:
		return 0
	case n.Role == nodeconfig.RoleMix && n.Layer == 3:
		return b.Spec.Replicas + b.Spec.Gateways
	}
	return b.Spec.MixesPerLayer
}

// writeNetFile writes the network file people's clients join with: the
// authorities as clients reach them, through the directory proxy.
func (b *Bed) writeNetFile() error {
	p := b.Spec.Params
	n := &netfile.File{Hops: p.Hops, UserPayload: p.UserPayload, Threshold: b.Spec.Threshold}
	n.SetEpochs(p.EpochPeriod, b.Spec.MailboxEpoch)
	for _, peer := range b.ProxyPeers {
		n.Authorities = append(n.Authorities, netfile.Authority{Key: base64.StdEncoding.EncodeToString(peer.Key), URL: peer.URL})
	}
	if err := n.Check(); err != nil {
		return fmt.Errorf("testbed: network file: %w", err)
	}
	b.NetFile = filepath.Join(b.Spec.Dir, "network.toml")
	return netfile.Write(b.NetFile, n)
}
