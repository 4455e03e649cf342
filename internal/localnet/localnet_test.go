//go:build unix

package localnet_test

import (
	"bytes"
	"context"
	"loam/internal/testnet"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"loam/cmd/loam-node/nodeconfig"
	"loam/internal/localnet"
	"loam/mixnet"
	"loam/mixnet/link"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	buildDir  string
)

// loamNode builds loam-node once per test binary; with the tests under the
// race detector and LOAM_LOCALNET_RACE=1 the processes run under it too,
// and a race in any of them fails its exit status.
func loamNode(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "localnet-bin-")
		if buildErr != nil {
			return
		}
		// The processes run without the race detector unless asked: under
		// it they take twice as long on a small machine, and this process
		// (the client) is already checked by it.
		var flags []string
		if raceEnabled && os.Getenv("LOAM_LOCALNET_RACE") == "1" {
			flags = append(flags, "-race")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		builtBin, buildErr = localnet.Build(ctx, buildDir, flags...)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// TestProcessNetworkEcho runs 3 authorities, a gateway, 2 mixes in each of
// 3 layers and an echo service as loam-node processes with 4-second
// epochs. From this process a client sends 1,000 echo requests on random
// paths and every answer comes back by SURB. Then a node's and an
// authority's /metrics are read, a mix is killed and restarted, and every
// process exits 0 within a few seconds of SIGTERM.
func TestProcessNetworkEcho(t *testing.T) {
	bin := loamNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	layout, err := localnet.Generate(localnet.Spec{Dir: t.TempDir(), Bin: bin})
	if err != nil {
		t.Fatal(err)
	}
	network, err := layout.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			network.StopAll()
		}
	})
	waitReady(t, ctx, network)
	c := newClient(t, ctx, layout)

	t.Run("Echo1000", func(t *testing.T) {
		if got := testnet.EchoRound(t, c, 1000, 60*time.Second); got != 1000 {
			t.Fatalf("%d of 1000 echo replies came back", got)
		}
	})

	t.Run("NodeMetrics", func(t *testing.T) { testNodeMetrics(t, ctx, network, c) })

	t.Run("AuthorityMetrics", func(t *testing.T) {
		m, err := network.Scrape(ctx, "authority-0")
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "loam_ready"} {
			if !m.Has(name) {
				t.Errorf("authority /metrics lacks %s", name)
			}
		}
		if got := m.Sum("loam_ready"); got != 1 {
			t.Errorf("authority loam_ready = %v, want 1", got)
		}
	})

	t.Run("KillAndRestartMix", func(t *testing.T) {
		if err := network.Kill("mix-2a"); err != nil {
			t.Fatal(err)
		}
		if network.Alive("mix-2a") {
			t.Fatal("mix-2a still running after Kill")
		}
		if err := network.Restart("mix-2a"); err != nil {
			t.Fatal(err)
		}
		waitReady(t, ctx, network)
		if got := testnet.EchoRound(t, c, 50, 30*time.Second); got != 50 {
			t.Fatalf("after restarting a mix %d of 50 echo replies came back", got)
		}
	})

	c.Close()
	start := time.Now()
	stopped = true
	if err := network.StopAll(); err != nil {
		t.Fatalf("stopping the network: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the processes took %v to exit after SIGTERM", took)
	}
	for _, n := range layout.Nodes {
		if network.Alive(n.Name) {
			t.Errorf("%s still running after StopAll", n.Name)
		}
	}
}

// testNodeMetrics checks a gateway's /metrics: every drop reason is
// exported from the start, a replayed and a tampered packet are counted
// under their reasons, and links and readiness are reported.
func testNodeMetrics(t *testing.T, ctx context.Context, network *localnet.Running, c *mixnet.Client) {
	gw := "gateway-0"
	before, err := network.Scrape(ctx, gw)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []mixnet.DropReason{mixnet.DropReplay, mixnet.DropMAC, mixnet.DropOverload, mixnet.DropNoKey} {
		if !before.Has("loam_drops_total", "reason", string(r)) {
			t.Errorf("/metrics lacks loam_drops_total{reason=%q}", r)
		}
	}
	for _, name := range []string{"loam_frames_received_total", "loam_unwrap_seconds_count", "go_goroutines", "process_resident_memory_bytes"} {
		if !before.Has(name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if got, want := before.Sum("loam_links_open", "direction", "out"), float64(network.Layout.Node(gw).NextHops); got != want {
		t.Errorf("loam_links_open{direction=out} = %v, want %v", got, want)
	}
	// At least this test's client. A layer-3 mix that dialled the gateway
	// before the gateway's directory listed it was accepted as a client
	// and stays counted as one (mixnet's gateway rule, SPEC.md §5.1).
	if got := before.Sum("loam_links_open", "direction", "in", "kind", "client"); got < 1 {
		t.Errorf("loam_links_open{direction=in,kind=client} = %v, want at least 1 (this test's client)", got)
	} else if got > 1 {
		t.Logf("gateway counts %v client links; in/node = %v", got, before.Sum("loam_links_open", "direction", "in", "kind", "node"))
	}
	if got := before.Sum("loam_ready"); got != 1 {
		t.Errorf("loam_ready = %v, want 1", got)
	}

	services, err := c.Services("echo")
	if err != nil {
		t.Fatal(err)
	}
	pkt, _, err := c.NewRequest(services[0], "echo", []byte("twice"))
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(pkt)
	tampered[100] ^= 1
	for _, p := range [][]byte{pkt, bytes.Clone(pkt), tampered} {
		if err := c.Send(p); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		after, err := network.Scrape(ctx, gw)
		if err != nil {
			t.Fatal(err)
		}
		replay := after.Sum("loam_drops_total", "reason", "replay") - before.Sum("loam_drops_total", "reason", "replay")
		mac := after.Sum("loam_drops_total", "reason", "mac") - before.Sum("loam_drops_total", "reason", "mac")
		if replay == 1 && mac == 1 {
			break
		}
		if replay > 1 || mac > 1 || time.Now().After(deadline) {
			t.Fatalf("after a replay and a tampered packet the gateway counts %v replay and %v mac drops, want 1 and 1", replay, mac)
		}
		time.Sleep(50 * time.Millisecond)
	}
	select { // the original's answer
	case <-c.Replies():
	case <-time.After(20 * time.Second):
		t.Fatal("the original packet's reply never came")
	}
}

func waitReady(t *testing.T, ctx context.Context, network *localnet.Running) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	if err := network.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
}

// newClient starts a client of the network in this process and waits for
// its gateway link.
func newClient(t *testing.T, ctx context.Context, layout *localnet.Layout) *mixnet.Client {
	t.Helper()
	lk, err := link.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	c, err := mixnet.NewClient(mixnet.ClientConfig{Link: lk, Network: layout.Network(),
		Directory: layout.Fetcher(t.TempDir()), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := c.Start(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("client start: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // the test polls; nothing in the protocol waits on it
	}
	t.Cleanup(c.Close)
	for {
		if connected, _, _ := c.Status(); connected {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatal("client not connected to its gateway after 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestGenerate: the layout names every node, gives each its own ports on
// 127.0.0.1, and writes configurations that load with the network's
// authorities and parameters, after Configure.
func TestGenerate(t *testing.T) {
	bin := loamNode(t)
	p := localnet.TestParameters()
	p.EpochPeriod = 6 * time.Second
	layout, err := localnet.Generate(localnet.Spec{Dir: t.TempDir(), Bin: bin, MixesPerLayer: 3, Gateways: 2, ServiceNodes: 2, Params: p,
		Configure: func(n *localnet.Node, f *nodeconfig.File) { f.LogFormat = "json" }})
	if err != nil {
		t.Fatal(err)
	}
	wantNames := []string{"authority-0", "authority-1", "authority-2", "gateway-0", "gateway-1",
		"mix-1a", "mix-1b", "mix-1c", "mix-2a", "mix-2b", "mix-2c", "mix-3a", "mix-3b", "mix-3c", "service-0", "service-1"}
	if len(layout.Nodes) != len(wantNames) {
		t.Fatalf("%d nodes, want %d", len(layout.Nodes), len(wantNames))
	}
	addrs := map[string]bool{}
	for i, n := range layout.Nodes {
		if n.Name != wantNames[i] {
			t.Errorf("node %d is %s, want %s", i, n.Name, wantNames[i])
		}
		for _, a := range []string{n.Listen, n.Metrics} {
			host, _, err := net.SplitHostPort(a)
			if err != nil || host != "127.0.0.1" || addrs[a] {
				t.Errorf("%s: address %s is not a fresh 127.0.0.1 port", n.Name, a)
			}
			addrs[a] = true
		}
		cfg, err := nodeconfig.Load(n.Config)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Role != n.Role || cfg.Layer != n.Layer || !cfg.LogJSON || len(cfg.Authorities) != 3 || cfg.Threshold != 2 {
			t.Errorf("%s: loaded %+v", n.Name, cfg)
		}
		if n.Role == nodeconfig.RoleAuthority {
			if cfg.Params != p || cfg.Self() == nil || cfg.Self().URL != "http://"+n.Listen {
				t.Errorf("%s: params %+v, self %v", n.Name, cfg.Params, cfg.Self())
			}
			continue
		}
		if cfg.Network != layout.Network() || cfg.NodeID() != n.ID || cfg.Link.Public != n.LinkKey {
			t.Errorf("%s: network %+v id %v", n.Name, cfg.Network, cfg.NodeID())
		}
	}
	for name, want := range map[string]int{"gateway-1": 3, "mix-1a": 3, "mix-2c": 3, "mix-3b": 4, "service-1": 3} {
		if got := layout.Node(name).NextHops; got != want {
			t.Errorf("%s: %d next hops, want %d", name, got, want)
		}
	}
}

// TestStopAllReportsUncleanExit: a process that exits non-zero is
// reported by StopAll, and Stop with a signal the node does not handle
// reports the death.
func TestStopAllReportsUncleanExit(t *testing.T) {
	bin := loamNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	layout, err := localnet.Generate(localnet.Spec{Dir: t.TempDir(), Bin: bin, Authorities: 1,
		MixesPerLayer: 1})
	if err != nil {
		t.Fatal(err)
	}
	network, err := layout.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { network.StopAll() })
	if err := network.Stop("mix-1a", syscall.SIGQUIT); err == nil {
		t.Error("Stop with SIGQUIT (a Go goroutine dump, exit 2) reported a clean exit")
	}
	if err := network.Stop("mix-2a", syscall.SIGTERM); err != nil {
		t.Errorf("Stop with SIGTERM: %v", err)
	}
	if err := network.Restart("mix-2a"); err != nil {
		t.Errorf("Restart after Stop: %v", err)
	}
	if err := network.StopAll(); err != nil {
		t.Errorf("StopAll after the deliberate stops: %v", err)
	}
	for _, n := range layout.Nodes {
		if network.Alive(n.Name) {
			t.Errorf("%s still running after StopAll", n.Name)
		}
	}
}

// TestCancelKillsProcesses: ending Start's context kills every process.
func TestCancelKillsProcesses(t *testing.T) {
	bin := loamNode(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	layout, err := localnet.Generate(localnet.Spec{Dir: t.TempDir(), Bin: bin, Authorities: 1, MixesPerLayer: 1})
	if err != nil {
		t.Fatal(err)
	}
	network, err := layout.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for _, n := range layout.Nodes {
		for network.Alive(n.Name) {
			if time.Now().After(deadline) {
				t.Fatalf("%s still running 10s after the context ended", n.Name)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
