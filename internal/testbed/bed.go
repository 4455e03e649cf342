//go:build linux

package testbed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"loam/cmd/loam-node/nodeconfig"
	"loam/internal/localnet"
	"loam/mixnet/directory"
)

// Bed is a running test bed: the network, the nodes as loam-node
// processes in their namespaces, the people's clients, and the harness's
// own hosts (ctl, from which it probes; dirproxy, between everyone and the
// authorities; tap, which records a client's link; trap, a honeypot that
// counts whoever dials it).
type Bed struct {
	Spec Spec
	Net  *Net
	// The harness's hosts.
	Ctl, DirProxy, Tap, Trap *Host
	// Nodes: authorities, gateways, mixes by layer, replicas.
	Nodes []*Node
	// Peers are the authorities at their own addresses; ProxyPeers as
	// nodes and clients reach them.
	Peers, ProxyPeers []directory.Peer
	// NetFile is the network file the people's clients join with.
	NetFile string
	// Clients are the tbclient processes, one per client host.
	Clients []*Client

	out   io.Writer
	proxy *dirProxy
	tap   *tap
	trap  *honeypot

	mu    sync.Mutex
	procs map[string]*Proc
	// peak is the largest resident set of each node and client process
	// over all its runs.
	peak map[string]int64
}

// New makes the network and lays out the nodes; Start runs them. out
// hears progress lines (nil: none). On error everything made is torn down.
func New(ctx context.Context, spec Spec, out io.Writer) (b *Bed, err error) {
	if err := spec.defaults(); err != nil {
		return nil, err
	}
	if out == nil {
		out = io.Discard
	}
	n, err := NewNet(ctx, spec.Subnet)
	if err != nil {
		return nil, err
	}
	b = &Bed{Spec: spec, Net: n, out: out, procs: map[string]*Proc{}, peak: map[string]int64{}}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	for _, h := range []struct {
		name string
		to   **Host
	}{{"ctl", &b.Ctl}, {"dirproxy", &b.DirProxy}, {"tap", &b.Tap}, {"trap", &b.Trap}} {
		if *h.to, err = n.AddHost(ctx, h.name); err != nil {
			return nil, err
		}
	}
	if err := b.generate(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Bed) say(format string, args ...any) {
	fmt.Fprintf(b.out, format+"\n", args...)
}

// Authorities returns the authority nodes.
func (b *Bed) Authorities() []*Node { return b.Nodes[:b.Spec.Authorities] }

// MixNodes returns every node that is not an authority.
func (b *Bed) MixNodes() []*Node { return b.Nodes[b.Spec.Authorities:] }

// Node returns the node called name, or nil.
func (b *Bed) Node(name string) *Node {
	for _, n := range b.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// ByRole returns the nodes of a role.
func (b *Bed) ByRole(r nodeconfig.Role) []*Node {
	var out []*Node
	for _, n := range b.Nodes {
		if n.Role == r {
			out = append(out, n)
		}
	}
	return out
}

// Start starts the proxy, the authorities (and waits for their API), then
// every node, and waits until each answers on its metrics listener.
func (b *Bed) Start(ctx context.Context) error {
	var err error
	if b.proxy, err = startDirProxy(b); err != nil {
		return err
	}
	if b.trap, err = startHoneypot(b.Trap); err != nil {
		return err
	}
	if b.tap, err = startTap(b); err != nil {
		return err
	}
	for _, a := range b.Authorities() {
		if err := b.startNode(a); err != nil {
			return err
		}
	}
	if err := b.awaitUp(ctx, b.Authorities()); err != nil {
		return err
	}
	for _, n := range b.MixNodes() {
		if err := b.startNode(n); err != nil {
			return err
		}
	}
	return b.awaitUp(ctx, b.MixNodes())
}

func (b *Bed) startNode(n *Node) error {
	p, err := startProc(n.Name, n.Host, n.Log, nil, nil, filepath.Join(b.Spec.Bin, "loam-node"), "run", "-c", n.Config)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.procs[n.Name] = p
	b.mu.Unlock()
	return nil
}

// proc returns the current process of a node or client host.
func (b *Bed) proc(name string) *Proc {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.procs[name]
}

// awaitUp waits until each node answers HTTP (see localnet.AwaitUp).
func (b *Bed) awaitUp(ctx context.Context, nodes []*Node) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client := b.Ctl.HTTPClient(time.Second)
	for _, n := range nodes {
		if err := localnet.AwaitUp(ctx, client, &n.Node, b.proc(n.Name).Exited); err != nil {
			return err
		}
	}
	return nil
}

// Kill ends a node's process at once with SIGKILL, as a crash would.
func (b *Bed) Kill(name string) error {
	p := b.proc(name)
	if p == nil {
		return fmt.Errorf("testbed: no process %q", name)
	}
	p.Kill()
	b.notePeak(name, p)
	return nil
}

// Stop stops a node's process with SIGTERM.
func (b *Bed) Stop(name string) error {
	p := b.proc(name)
	if p == nil {
		return fmt.Errorf("testbed: no process %q", name)
	}
	err := p.Stop()
	b.notePeak(name, p)
	return err
}

// Restart starts a node again with the same configuration, address and
// data directory after it was stopped or killed, and waits until it
// answers.
func (b *Bed) Restart(ctx context.Context, name string) error {
	n := b.Node(name)
	if n == nil {
		return fmt.Errorf("testbed: no node %q", name)
	}
	if p := b.proc(name); p != nil && p.Alive() {
		if err := b.Stop(name); err != nil {
			return err
		}
	}
	if err := b.startNode(n); err != nil {
		return err
	}
	return b.awaitUp(ctx, []*Node{n})
}

// Alive reports whether a node's process runs.
func (b *Bed) Alive(name string) bool {
	p := b.proc(name)
	return p != nil && p.Alive()
}

func (b *Bed) notePeak(name string, p *Proc) {
	rss := p.PeakRSS()
	b.mu.Lock()
	b.peak[name] = max(b.peak[name], rss)
	b.mu.Unlock()
}

// SampleRSS records every live process's peak resident set so far; the
// bed calls it periodically.
func (b *Bed) SampleRSS() {
	b.mu.Lock()
	procs := maps.Clone(b.procs)
	b.mu.Unlock()
	for name, p := range procs {
		b.notePeak(name, p)
	}
}

// PeakRSS returns the peak resident set of every node and client process
// seen so far, by name.
func (b *Bed) PeakRSS() map[string]int64 {
	b.SampleRSS()
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.peak)
}

// Scrape reads a node's /metrics from the ctl host.
func (b *Bed) Scrape(ctx context.Context, name string) (localnet.Metrics, error) {
	n := b.Node(name)
	if n == nil {
		return nil, fmt.Errorf("testbed: no node %q", name)
	}
	m, err := localnet.ScrapeAddr(ctx, b.Ctl.HTTPClient(5*time.Second), n.Metrics)
	if err != nil {
		return nil, fmt.Errorf("testbed: %s: %w", name, err)
	}
	return m, nil
}

// Close stops the clients and nodes (SIGTERM, then SIGKILL), the
// harness's servers, and tears the network down. Every process that did
// not exit cleanly, other than those killed on purpose, is reported.
func (b *Bed) Close() error {
	var errs []error
	for _, c := range b.Clients {
		errs = append(errs, c.Close())
	}
	b.mu.Lock()
	names := slices.Sorted(maps.Keys(b.procs))
	b.mu.Unlock()
	// Nodes first, authorities last, all at once.
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, name := range names {
		p := b.proc(name)
		if p == nil || !p.Alive() || strings.HasPrefix(name, "client-") {
			continue
		}
		wg.Go(func() {
			err := p.Stop()
			b.notePeak(name, p)
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		})
	}
	wg.Wait()
	errs = append(errs, b.proxy.Close(), b.tap.Close(), b.trap.Close())
	if b.Net != nil {
		errs = append(errs, b.Net.Close())
	}
	return errors.Join(errs...)
}

// Build compiles loam-node, loam and tbclient into dir.
func Build(ctx context.Context, dir string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("testbed: the go command is needed to build the bed's programs: %w", err)
	}
	out, err := exec.CommandContext(ctx, goBin, "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("testbed: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return errors.New("testbed: not inside the loam module")
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", dir+string(os.PathSeparator),
		"./cmd/loam-node", "./cmd/loam", "./internal/testbed/tbclient")
	cmd.Dir = filepath.Dir(gomod)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("testbed: go build: %w\n%s", err, b)
	}
	return nil
}
