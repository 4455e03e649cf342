// Package testnet starts a whole Loam network inside one test process:
// directory authorities on HTTP, gateways, mixes in three layers and service
// nodes, all listening on 127.0.0.1, plus clients. Tests of every layer above
// the packet format use it.
package testnet

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"loam/mixnet"
	"loam/mixnet/directory"
	"loam/mixnet/link"
)

// Options shape a test network. Zero values take the defaults noted.
type Options struct {
	Authorities   int // 3
	Threshold     int // 2
	Gateways      int // 1
	MixesPerLayer int // 2
	ServiceNodes  int // 1
	// Params of the network; zero takes TestParameters().
	Params directory.Parameters
	// Transport for node and client links; nil is TCP.
	Transport link.Transport
	// Services for service node i; nil gives every service node "echo".
	Services func(i int) map[string]mixnet.Service
	// Node adjusts each node's config before it starts.
	Node   func(cfg *mixnet.Config)
	Logger *slog.Logger
}

// TestParameters are network parameters sized for tests: 5-second epochs
// (short enough to cross several in a test, long enough for the
// authorities' rounds on a loaded machine), 5 ms mean mixing delay.
func TestParameters() directory.Parameters {
	p := directory.DefaultParameters()
	p.EpochPeriod = 5 * time.Second
	p.Grace = 2 * time.Second
	p.Mu = 5 * time.Millisecond
	return p
}

// Network is a running test network.
type Network struct {
	t        testing.TB
	opts     Options
	dir      string
	Params   directory.Parameters
	Peers    []directory.Peer // the authorities
	Auths    []*directory.Authority
	servers  []*http.Server
	Nodes    []*mixnet.Node
	Registry map[*mixnet.Node]*prometheus.Registry
	ctx      context.Context
	cancel   context.CancelFunc
}

// Network returns the mixnet.Network of these parameters.
func (n *Network) Network() mixnet.Network {
	return mixnet.Network{Geometry: n.Params.Geometry(), EpochPeriod: n.Params.EpochPeriod}
}

// Start brings up a network and stops it when the test ends.
func Start(t testing.TB, opts Options) *Network {
	t.Helper()
	defaults(&opts)
	ctx, cancel := context.WithCancel(context.Background())
	n := &Network{t: t, opts: opts, dir: t.TempDir(), Params: opts.Params, ctx: ctx, cancel: cancel,
		Registry: map[*mixnet.Node]*prometheus.Registry{}}
	t.Cleanup(n.Close)
	n.startAuthorities()
	for i := range opts.Gateways {
		n.startNode(fmt.Sprintf("gateway-%d", i), directory.RoleGateway, 0, nil)
	}
	for layer := 1; layer <= 3; layer++ {
		for i := range opts.MixesPerLayer {
			n.startNode(fmt.Sprintf("mix-%d%c", layer, 'a'+i), directory.RoleMix, layer, nil)
		}
	}
	for i := range opts.ServiceNodes {
		services := map[string]mixnet.Service{"echo": mixnet.Echo}
		if opts.Services != nil {
			services = opts.Services(i)
		}
		n.startNode(fmt.Sprintf("service-%d", i), directory.RoleService, 0, services)
	}
	return n
}

func defaults(o *Options) {
	if o.Authorities == 0 {
		o.Authorities = 3
	}
	if o.Threshold == 0 {
		o.Threshold = 2
	}
	if o.Gateways == 0 {
		o.Gateways = 1
	}
	if o.MixesPerLayer == 0 {
		o.MixesPerLayer = 2
	}
	if o.ServiceNodes == 0 {
		o.ServiceNodes = 1
	}
	if o.Params == (directory.Parameters{}) {
		o.Params = TestParameters()
	}
	if o.Transport == nil {
		o.Transport = link.TCP{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
		if os.Getenv("LOAM_TESTNET_LOG") != "" { // debugging a failing test
			o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}
}

func (n *Network) startAuthorities() {
	keys := make([]ed25519.PrivateKey, n.opts.Authorities)
	lns := make([]net.Listener, n.opts.Authorities)
	for i := range keys {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			n.t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			n.t.Fatal(err)
		}
		keys[i], lns[i] = priv, ln
		n.Peers = append(n.Peers, directory.Peer{Key: priv.Public().(ed25519.PublicKey), URL: "http://" + ln.Addr().String()})
	}
	for i, key := range keys {
		a, err := directory.NewAuthority(directory.AuthorityConfig{
			Key: key, Authorities: n.Peers, Threshold: n.opts.Threshold, Params: n.Params,
			DataDir:   filepath.Join(n.dir, fmt.Sprintf("authority-%d", i)),
			Logger:    n.opts.Logger.With("authority", i),
			Bootstrap: n.Params.EpochPeriod / 3,
		})
		if err != nil {
			n.t.Fatal(err)
		}
		srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(lns[i])
		n.Auths = append(n.Auths, a)
		n.servers = append(n.servers, srv)
	}
	// All authorities answer HTTP before any starts its rounds, as in a
	// deployment whose authorities are up before the network forms.
	for _, a := range n.Auths {
		go a.Start(n.ctx)
	}
	for _, a := range n.Auths {
		<-a.Ready()
	}
}

// Fetcher returns a directory fetcher for this network caching in dir.
func (n *Network) Fetcher(dir string) *directory.Fetcher {
	return &directory.Fetcher{Authorities: n.Peers, Threshold: n.opts.Threshold, CacheDir: dir,
		Client: &http.Client{Timeout: 5 * time.Second}, Logger: n.opts.Logger}
}

func (n *Network) startNode(name string, role directory.Role, layer int, services map[string]mixnet.Service) {
	_, id, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		n.t.Fatal(err)
	}
	lk, err := link.GenerateKeyPair()
	if err != nil {
		n.t.Fatal(err)
	}
	dir := filepath.Join(n.dir, name)
	reg := prometheus.NewRegistry()
	cfg := mixnet.Config{
		Name: name, Role: role, Layer: layer, Identity: id, Link: lk,
		Listen: "127.0.0.1:0", Network: n.Network(), Transport: n.opts.Transport,
		Logger: n.opts.Logger, Registry: reg, DataDir: dir,
		Directory: n.Fetcher(filepath.Join(dir, "directory")), Services: services,
		ReplayCapacity: 1 << 16,
	}
	if n.opts.Node != nil {
		n.opts.Node(&cfg)
	}
	node, err := mixnet.NewNode(cfg)
	if err != nil {
		n.t.Fatal(err)
	}
	if err := node.Start(n.ctx); err != nil {
		n.t.Fatal(err)
	}
	n.Nodes = append(n.Nodes, node)
	n.Registry[node] = reg
}

// NewClient starts a client of this network.
func (n *Network) NewClient(t testing.TB) *mixnet.Client { return n.NewClientWith(t, nil) }

// NewClientWith starts a client whose config adjust may change first.
func (n *Network) NewClientWith(t testing.TB, adjust func(*mixnet.ClientConfig)) *mixnet.Client {
	t.Helper()
	lk, err := link.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	cfg := mixnet.ClientConfig{Link: lk, Network: n.Network(),
		Transport: n.opts.Transport, Directory: n.Fetcher(t.TempDir()), Logger: n.opts.Logger}
	if adjust != nil {
		adjust(&cfg)
	}
	c, err := mixnet.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err = c.Start(n.ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("client start: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // test set-up polls; no protocol waits on it
	}
	t.Cleanup(c.Close)
	return c
}

// WaitReady waits until the current epoch's document lists every node, every
// node has links to all its next hops, and client c (if any) is connected.
func (n *Network) WaitReady(t testing.TB, c *mixnet.Client) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		ready := true
		for _, node := range n.Nodes {
			if !node.Ready() {
				ready = false
				break
			}
		}
		if ready && c != nil {
			doc, err := c.Document()
			connected, _, _ := c.Status()
			ready = err == nil && connected && len(doc.Nodes) == len(n.Nodes)
		}
		if ready {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("network not ready after 45s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Close stops every node and authority. The authorities' HTTP servers shut
// down first and wait for the requests they are still handling (a
// descriptor being stored), so nothing writes into the test's directories
// once Close returns and they are removed.
func (n *Network) Close() {
	n.cancel()
	for _, node := range n.Nodes {
		node.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range n.servers {
		if s.Shutdown(ctx) != nil {
			s.Close()
		}
	}
	for _, a := range n.Auths {
		a.Close()
	}
}

// LogState logs each node's drop counters and loop report and each
// client's directory epoch: what a failing test needs to say why.
func (n *Network) LogState(t testing.TB, clients ...*mixnet.Client) {
	t.Helper()
	reasons := []mixnet.DropReason{mixnet.DropReplay, mixnet.DropMAC, mixnet.DropMalformed, mixnet.DropNoKey,
		mixnet.DropOverload, mixnet.DropUnknownPeer, mixnet.DropBadNextHop, mixnet.DropLinkDown,
		mixnet.DropNoService, mixnet.DropNoClient, mixnet.DropBadFrame, mixnet.DropInjected}
	for i, node := range n.Nodes {
		var b strings.Builder
		for _, r := range reasons {
			if v := testutil.ToFloat64(node.Metrics().Drops.WithLabelValues(string(r))); v > 0 {
				fmt.Fprintf(&b, " %s=%v", r, v)
			}
		}
		t.Logf("node %d %s ready=%v drops:%s", i, node.ID(), node.Ready(), b.String())
	}
	for i, c := range clients {
		doc, err := c.Document()
		connected, gw, stale := c.Status()
		epoch := uint64(0)
		if doc != nil {
			epoch = doc.Epoch
		}
		now := directory.Schedule{Period: n.Params.EpochPeriod}.Epoch(time.Now())
		t.Logf("client %d: connected=%v gateway=%s doc epoch %d (now %d) err=%v stale=%v", i, connected, gw, epoch, now, err, stale)
	}
}
