// Package tornet runs a private Tor network on 127.0.0.1 for tests: three
// directory authorities (keys made by tor-gencert), two or more relays (the
// first an exit to 127.0.0.0/8 only) and a plain client, each a Debian tor process with its own torrc and data
// directory. Nothing it starts can reach the public Tor network: every torrc
// sets TestingTorNetwork 1, names only the private authorities and turns
// fallback directories off, and is checked by CheckPrivate before it is
// written. ClientTorrc gives the lines a Loam tor (mixnet/tor, through bine)
// needs to join the network.
//
// Tests use Start and Stop (register Stop with t.Cleanup); scripts/tornet
// gives humans start, stop and status on the same generator.
package tornet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/proxy"
)

// Options shape a private network. Zero values take the defaults noted.
type Options struct {
	Dir     string        // required; must be empty or absent
	Relays  int           // relays besides the authorities; 2 (fewer makes circuits scarce)
	TorPath string        // the tor program; "tor" on PATH or in /usr/sbin
	Timeout time.Duration // for the network to converge and its client to bootstrap; 120 s
	// Detach starts the tors in their own session so they outlive this
	// program (scripts/tornet); Stop or Load(dir).Stop ends them by PidFile.
	Detach bool
	Logger *slog.Logger
}

// Authorities is the number of directory authorities.
const Authorities = 3

const (
	defaultRelays  = 2
	defaultTimeout = 120 * time.Second
	stateFile      = "tornet.json"
	pollEvery      = 250 * time.Millisecond
)

// Network is a private Tor network.
type Network struct {
	Dir   string  `json:"dir"`
	Nodes []*Node `json:"nodes"`
	// Started is when the first tor was launched; Consensus, Bootstrapped
	// and Exit how long after it the first consensus appeared, the
	// network's client reached 100 % and a stream of that client first
	// left through the exit.
	Started      time.Time     `json:"started"`
	Consensus    time.Duration `json:"consensus"`
	Bootstrapped time.Duration `json:"bootstrapped"`
	Exit         time.Duration `json:"exit"`

	log      *slog.Logger
	stopOnce sync.Once
	stopErr  error
}

// Start generates and starts a private network in dir with the defaults and
// waits until it is usable.
func Start(ctx context.Context, dir string) (*Network, error) {
	return StartWith(ctx, Options{Dir: dir})
}

// StartWith generates a private network in opts.Dir, starts every tor and
// waits until an authority has published a consensus, the network's own
// client has bootstrapped and a stream of it has reached 127.0.0.1 through
// the exit (the relays' descriptors have then spread). On failure it stops
// whatever it started.
func StartWith(ctx context.Context, opts Options) (*Network, error) {
	if opts.Dir == "" {
		return nil, errors.New("tornet: a directory is required")
	}
	if opts.Relays <= 0 {
		opts.Relays = defaultRelays
	}
	if opts.Timeout <= 0 {
		opts.Timeout = defaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("tornet: %w", err)
	}
	if err := emptyDir(dir); err != nil {
		return nil, err
	}
	torPath, err := lookProgram(opts.TorPath, "tor")
	if err != nil {
		return nil, err
	}
	gencert, err := lookProgram("", "tor-gencert")
	if err != nil {
		return nil, err
	}
	began := time.Now()
	n, err := generate(dir, opts.Relays, torPath, gencert)
	if err != nil {
		return nil, err
	}
	n.log = opts.Logger.With("tornet", dir)
	n.log.Info("private Tor network generated", "took", time.Since(began).Round(time.Millisecond))
	if err := n.save(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	n.Started = time.Now()
	if err := n.launch(torPath, opts.Detach, RoleAuthority, RoleRelay); err != nil {
		return nil, errors.Join(err, n.Stop())
	}
	if err := n.await(ctx, torPath, opts.Detach); err != nil {
		return nil, errors.Join(err, n.Stop())
	}
	if err := n.save(); err != nil { // with the timings
		return nil, errors.Join(err, n.Stop())
	}
	n.log.Info("private Tor network up", "consensus_after", n.Consensus, "bootstrapped_after", n.Bootstrapped,
		"exit_after", n.Exit)
	return n, nil
}

func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return os.MkdirAll(dir, 0o700)
	}
	if err != nil {
		return fmt.Errorf("tornet: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("tornet: %s is not empty; stop the network there and remove it first", dir)
	}
	return nil
}

// generate lays out the nodes, picks their ports, makes their keys and
// writes their torrcs.
func generate(dir string, relays int, torPath, gencert string) (*Network, error) {
	n := &Network{Dir: dir}
	for i := range Authorities {
		n.Nodes = append(n.Nodes, &Node{Name: fmt.Sprintf("auth%d", i), Role: RoleAuthority})
	}
	for i := range relays {
		n.Nodes = append(n.Nodes, &Node{Name: fmt.Sprintf("relay%d", i), Role: RoleRelay, Exit: i == 0})
	}
	n.Nodes = append(n.Nodes, &Node{Name: "client", Role: RoleClient})
	ports, err := freePorts(Authorities*2 + relays + 1)
	if err != nil {
		return nil, err
	}
	for _, node := range n.Nodes {
		node.Dir = filepath.Join(dir, node.Name)
		if err := os.MkdirAll(node.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("tornet: %w", err)
		}
		switch node.Role {
		case RoleAuthority:
			node.ORPort, node.DirPort, ports = ports[0], ports[1], ports[2:]
		case RoleRelay:
			node.ORPort, ports = ports[0], ports[1:]
		case RoleClient:
			node.SocksPort, ports = ports[0], ports[1:]
		}
	}
	// Key generation is CPU-bound (tor-gencert makes a 3072-bit RSA key):
	// one goroutine per node.
	errs := make([]error, len(n.Nodes))
	var wg sync.WaitGroup
	for i, node := range n.Nodes {
		if node.Role == RoleClient {
			continue
		}
		wg.Go(func() {
			if node.Role == RoleAuthority {
				if errs[i] = makeAuthorityKeys(gencert, node); errs[i] != nil {
					return
				}
			}
			errs[i] = makeIdentity(torPath, node)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	auths := n.authorities()
	for _, node := range n.Nodes {
		if err := writeTorrc(node.Torrc(), node.torrc(auths)); err != nil {
			return nil, err
		}
	}
	return n, nil
}

func (n *Network) authorities() []*Node {
	var auths []*Node
	for _, node := range n.Nodes {
		if node.Role == RoleAuthority {
			auths = append(auths, node)
		}
	}
	return auths
}

func (n *Network) client() *Node {
	for _, node := range n.Nodes {
		if node.Role == RoleClient {
			return node
		}
	}
	return nil
}

// ClientTorrc is what a tor needs in its torrc to join this network as a
// client or onion service host: mixnet/tor.Config.ExtraTorrc.
func (n *Network) ClientTorrc() []string {
	return privateLines(n.authorities())
}

// SocksAddr is the network's own client's SOCKS address, for humans with
// curl --socks5-hostname or torsocks.
func (n *Network) SocksAddr() string {
	return fmt.Sprintf("%s:%d", loopback, n.client().SocksPort)
}

// launch starts the tors of the given roles.
func (n *Network) launch(torPath string, detach bool, roles ...Role) error {
	for _, node := range n.Nodes {
		if !slices.Contains(roles, node.Role) {
			continue
		}
		p, err := launch(torPath, node, detach)
		if err != nil {
			return err
		}
		node.proc = p
	}
	return nil
}

// await waits for the first consensus, then starts the client and waits
// for its bootstrap, failing early if a tor exits. (A client started with
// the others backs off between its failed consensus fetches and bootstraps
// about 10 s after the consensus instead of 2 s.)
func (n *Network) await(ctx context.Context, torPath string, detach bool) error {
	client := n.client()
	for {
		for _, node := range n.Nodes {
			if node.proc != nil && node.proc.exited() {
				return fmt.Errorf("tornet: tor %s exited during start-up (%v); its log ends:\n%s",
					node.Name, node.proc.err, tail(node))
			}
		}
		if n.Consensus == 0 && slices.ContainsFunc(n.authorities(), hasConsensus) {
			n.Consensus = time.Since(n.Started)
			n.log.Info("private Tor network: first consensus", "after", n.Consensus)
			if err := n.launch(torPath, detach, RoleClient); err != nil {
				return err
			}
		}
		if n.Consensus != 0 && n.Bootstrapped == 0 && bootstrapped(client) {
			n.Bootstrapped = time.Since(n.Started)
		}
		if n.Bootstrapped != 0 && exitWorks(ctx, n.SocksAddr()) {
			n.Exit = time.Since(n.Started)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("tornet: network not usable after %s (consensus: %t; client: %s; exit: %t): %w",
				time.Since(n.Started).Round(time.Second), n.Consensus != 0, lastBootstrap(client), n.Exit != 0, ctx.Err())
		case <-time.After(pollEvery): // watching other processes' files; no protocol timing
		}
	}
}

// exitWorks reports whether a stream through the SOCKS port at socks
// reaches a listener on 127.0.0.1, which only the exit can connect to.
func exitWorks(ctx context.Context, socks string) bool {
	ln, err := net.Listen("tcp", loopback+":0")
	if err != nil {
		return false
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d, err := proxy.SOCKS5("tcp", socks, nil, &net.Dialer{})
	if err != nil {
		return false
	}
	conn, err := d.(proxy.ContextDialer).DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// hasConsensus reports whether an authority has published a consensus.
func hasConsensus(a *Node) bool {
	for _, name := range []string{"cached-consensus", "cached-microdesc-consensus"} {
		if fi, err := os.Stat(filepath.Join(a.Dir, name)); err == nil && fi.Size() > 0 {
			return true
		}
	}
	return false
}

func bootstrapped(c *Node) bool {
	return strings.Contains(lastBootstrap(c), "Bootstrapped 100%")
}

// lastBootstrap is the client's latest "Bootstrapped N%" log message.
func lastBootstrap(c *Node) string {
	b, _ := os.ReadFile(c.LogFile())
	i := bytes.LastIndex(b, []byte("Bootstrapped "))
	if i < 0 {
		return "not started bootstrapping"
	}
	line, _, _ := bytes.Cut(b[i:], []byte("\n"))
	return string(line)
}

// tail is the end of a node's logs, for error messages.
func tail(node *Node) string {
	var out []string
	for _, name := range []string{"stdout.log", "notice.log"} {
		b, _ := os.ReadFile(filepath.Join(node.Dir, name))
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		out = append(out, lines[max(0, len(lines)-8):]...)
	}
	return strings.Join(out, "\n")
}

// Stop ends every tor of the network, by process id (never by name): SIGTERM,
// then SIGKILL after 2 s, and waits for each to be gone. Calling it again does
// nothing more.
func (n *Network) Stop() error {
	n.stopOnce.Do(func() {
		errs := make([]error, len(n.Nodes))
		var wg sync.WaitGroup
		for i, node := range n.Nodes {
			wg.Go(func() {
				if node.proc != nil {
					errs[i] = node.proc.stop()
				} else {
					errs[i] = stopPID(node)
				}
			})
		}
		wg.Wait()
		n.stopErr = errors.Join(errs...)
	})
	return n.stopErr
}

func (n *Network) save() error {
	b, err := json.MarshalIndent(n, "", "  ")
	if err != nil {
		return fmt.Errorf("tornet: %w", err)
	}
	if err := os.WriteFile(filepath.Join(n.Dir, stateFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("tornet: %w", err)
	}
	return nil
}

// Load reads the description of a network started in dir (by this or
// another program) so that it can be stopped or inspected.
func Load(dir string) (*Network, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, fmt.Errorf("tornet: no network in %s: %w", dir, err)
	}
	n := &Network{log: slog.Default()}
	if err := json.Unmarshal(b, n); err != nil {
		return nil, fmt.Errorf("tornet: %s: %w", filepath.Join(dir, stateFile), err)
	}
	if len(n.authorities()) == 0 || n.client() == nil {
		return nil, fmt.Errorf("tornet: %s describes no network", filepath.Join(dir, stateFile))
	}
	for _, node := range n.Nodes {
		if !strings.HasPrefix(node.Dir, n.Dir+string(filepath.Separator)) {
			return nil, fmt.Errorf("tornet: node %s lies outside %s", node.Name, n.Dir)
		}
	}
	return n, nil
}

// NodeStatus is what Status says of one tor.
type NodeStatus struct {
	Name    string
	Role    Role
	PID     int // 0 if unknown
	Running bool
	Detail  string // authorities: consensus or not; client: its bootstrap
}

// Status reports each tor: whether it runs, and how far the network got.
func (n *Network) Status() []NodeStatus {
	var out []NodeStatus
	for _, node := range n.Nodes {
		st := NodeStatus{Name: node.Name, Role: node.Role}
		if pid, err := readPID(node); err == nil {
			st.PID, st.Running = pid, runs(pid, node)
		}
		switch node.Role {
		case RoleAuthority:
			st.Detail = "no consensus yet"
			if hasConsensus(node) {
				st.Detail = "consensus published"
			}
		case RoleClient:
			st.Detail = lastBootstrap(node)
		}
		out = append(out, st)
	}
	return out
}
