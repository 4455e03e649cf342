//go:build unix

package localnet

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"loam/cmd/loam-node/nodeconfig"
	"loam/internal/childproc"
)

// Generate lays out the network in spec.Dir: it picks free ports on
// 127.0.0.1, runs `loam-node init` for every node, reads each identity
// back with `loam-node show --json`, and fills in every node.toml: the
// authorities, the network, log level, small replay filters, then
// spec.Configure. Every file is checked as `loam-node run` will check it.
func Generate(spec Spec) (*Layout, error) {
	if err := spec.defaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(spec.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("localnet: %w", err)
	}
	l := &Layout{Spec: spec}
	add := func(name string, role nodeconfig.Role, layer int) {
		dir := filepath.Join(spec.Dir, name)
		l.Nodes = append(l.Nodes, &Node{Name: name, Role: role, Layer: layer, Dir: dir,
			Config: filepath.Join(dir, "node.toml"), Log: filepath.Join(spec.Dir, name+".log")})
	}
	for i := range spec.Authorities {
		add(fmt.Sprintf("authority-%d", i), nodeconfig.RoleAuthority, 0)
	}
	for i := range spec.Gateways {
		add(fmt.Sprintf("gateway-%d", i), nodeconfig.RoleGateway, 0)
	}
	for layer := 1; layer <= 3; layer++ {
		for i := range spec.MixesPerLayer {
			add(fmt.Sprintf("mix-%d%c", layer, 'a'+i), nodeconfig.RoleMix, layer)
		}
	}
	for i := range spec.ServiceNodes {
		add(fmt.Sprintf("service-%d", i), nodeconfig.RoleService, 0)
	}
	ports, err := freePorts(2 * len(l.Nodes))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	service := 0
	for i, n := range l.Nodes {
		n.Listen = "127.0.0.1:" + strconv.Itoa(ports[2*i])
		n.Metrics = "127.0.0.1:" + strconv.Itoa(ports[2*i+1])
		n.NextHops = nextHops(spec, n)
		if n.Role == nodeconfig.RoleService {
			n.Services = spec.Services(service)
			service++
		}
		if err := InitNode(ctx, spec.Bin, n); err != nil {
			return nil, err
		}
	}
	var entries []nodeconfig.AuthorityEntry
	for _, a := range l.Authorities() {
		entries = append(entries, nodeconfig.AuthorityEntry{Key: nodeconfig.EncodeKey(a.IdentityKey), URL: "http://" + a.Listen})
	}
	for _, n := range l.Nodes {
		if err := l.configure(n, entries); err != nil {
			return nil, err
		}
	}
	for _, a := range l.Authorities() {
		l.Peers = append(l.Peers, directoryPeer(a))
	}
	return l, nil
}

// configure fills in a node.toml that init wrote and checks it.
func (l *Layout) configure(n *Node, authorities []nodeconfig.AuthorityEntry) error {
	f, err := nodeconfig.Parse(n.Config)
	if err != nil {
		return fmt.Errorf("localnet: %w", err)
	}
	p := l.Spec.Params
	f.LogLevel = l.Spec.LogLevel
	f.Directory.Threshold = l.Spec.Threshold
	f.Directory.Authorities = authorities
	if n.Role == nodeconfig.RoleAuthority {
		f.Authority.Parameters = nodeconfig.ParametersOf(p)
		f.Authority.Bootstrap = nodeconfig.FormatDuration(l.Spec.Bootstrap)
	} else {
		f.Network = nodeconfig.NetworkSection{Hops: p.Hops, UserPayload: p.UserPayload,
			EpochPeriod: nodeconfig.FormatDuration(p.EpochPeriod)}
		f.Limits.ReplayCapacity = testReplayCapacity
	}
	if l.Spec.Configure != nil {
		l.Spec.Configure(n, f)
	}
	if err := f.Write(n.Config, true); err != nil {
		return fmt.Errorf("localnet: %w", err)
	}
	if _, err := nodeconfig.Load(n.Config); err != nil {
		return fmt.Errorf("localnet: generated configuration does not load: %w", err)
	}
	return nil
}

// nextHops counts the links a node opens (SPEC.md §5.1): gateways and
// service nodes to layer 1, each layer to the next, layer 3 to every
// service node and gateway.
func nextHops(s Spec, n *Node) int {
	switch {
	case n.Role == nodeconfig.RoleAuthority:
		return 0
	case n.Role == nodeconfig.RoleMix && n.Layer == 3:
		return s.ServiceNodes + s.Gateways
	}
	return s.MixesPerLayer
}

// InitNode runs `loam-node init` (bin) for n as an operator would, with
// its role, layer, services, name, data directory and listeners, and fills
// in its keys and id from `loam-node show --json`.
func InitNode(ctx context.Context, bin string, n *Node) error {
	args := []string{"init", "--role", string(n.Role), "--dir", n.Dir, "--name", n.Name,
		"--listen", n.Listen, "--metrics-listen", n.Metrics}
	if n.Role == nodeconfig.RoleMix {
		args = append(args, "--layer", strconv.Itoa(n.Layer))
	}
	if n.Role == nodeconfig.RoleService {
		args = append(args, "--services", strings.Join(n.Services, ","))
	}
	if _, err := childproc.Run(ctx, bin, args...); err != nil {
		return fmt.Errorf("localnet: %w", err)
	}
	return readIdentity(ctx, bin, n)
}

// readIdentity fills in a node's keys and id from `loam-node show --json`.
func readIdentity(ctx context.Context, bin string, n *Node) error {
	out, err := childproc.Run(ctx, bin, "show", "-c", n.Config, "--json")
	if err != nil {
		return fmt.Errorf("localnet: %w", err)
	}
	var id struct {
		IdentityKey string `json:"identity_key"`
		LinkKey     string `json:"link_key"`
		NodeID      string `json:"node_id"`
	}
	if err := json.Unmarshal(out, &id); err != nil {
		return fmt.Errorf("localnet: loam-node show --json for %s: %w", n.Name, err)
	}
	if n.IdentityKey, err = nodeconfig.DecodeKey(id.IdentityKey); err != nil {
		return fmt.Errorf("localnet: %s: identity key: %w", n.Name, err)
	}
	if n.Role == nodeconfig.RoleAuthority {
		return nil
	}
	lk, err := nodeconfig.DecodeKey(id.LinkKey)
	if err != nil || len(lk) != len(n.LinkKey) {
		return fmt.Errorf("localnet: %s: link key %q", n.Name, id.LinkKey)
	}
	copy(n.LinkKey[:], lk)
	raw, err := hex.DecodeString(id.NodeID)
	if err != nil || len(raw) != len(n.ID) {
		return fmt.Errorf("localnet: %s: node id %q", n.Name, id.NodeID)
	}
	copy(n.ID[:], raw)
	return nil
}
