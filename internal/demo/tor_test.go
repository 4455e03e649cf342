//go:build linux

package demo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"loam/cmd/loam-node/nodeconfig"
	"loam/cmd/loam/netfile"
	"loam/internal/localnet"
	"loam/internal/tornet"
)

// TestFeedOverTorIntegration is issue 6's scenario with real processes: on
// a private Tor network (internal/tornet, 127.0.0.1 only) a loam-node
// gateway with [tor] enabled is also an onion service; Alice's `loam --tor`
// posts a sentence and a 32 KiB picture for Bob, and Bob's `loam --tor`
// syncs and reads both back intact. While each command runs the test
// watches the sockets: the CLI talks only to its own tor, never to the
// gateway nor to the directory authorities (it fetches the directory
// through Tor, by the private network's exit), and the gateway's client link
// arrives from a socket of the gateway's own tor. Without Debian's tor the
// test fails (never skips) with the install hint: a green run always means
// Tor was really used.
func TestFeedOverTorIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("heavy integration test: run by make test's integration step")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()

	// The private Tor network and the programs, side by side: each takes
	// tens of seconds.
	bin := filepath.Join(dir, "bin")
	var tn *tornet.Network
	var tnErr, buildErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		tn, tnErr = tornet.StartWith(ctx, tornet.Options{Dir: filepath.Join(dir, "tornet"),
			Logger: slog.New(slog.DiscardHandler)})
	})
	wg.Go(func() { buildErr = build(ctx, bin) })
	wg.Wait()
	if tn != nil {
		t.Cleanup(func() {
			if err := tn.Stop(); err != nil {
				t.Error(err)
			}
		})
	}
	if tnErr != nil {
		t.Fatalf("private Tor network (this test needs Debian's tor: apt-get install tor): %v", tnErr)
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	t.Logf("private Tor network: consensus after %s, its client bootstrapped after %s, through the exit after %s",
		tn.Consensus.Round(time.Millisecond), tn.Bootstrapped.Round(time.Millisecond), tn.Exit.Round(time.Millisecond))
	// Every Loam tor below (the gateway's, Alice's, Bob's) gets these lines
	// and nothing else: they must keep it inside the private network.
	torrc := tn.ClientTorrc()
	if err := tornet.CheckPrivate(torrc); err != nil {
		t.Fatalf("the private network's client torrc: %v", err)
	}

	// The Loam network: 3 authorities, a gateway that is also an onion
	// service, 2 mixes per layer, 3 mailbox replicas.
	params := localnet.TestParameters()
	params.LambdaP, params.LambdaL, params.LambdaD, params.LambdaM = 60, 2, 2, 2 // as the demo's: a post in seconds
	layout, err := localnet.Generate(localnet.Spec{
		Dir: filepath.Join(dir, "network"), Bin: filepath.Join(bin, "loam-node"),
		ServiceNodes: 3, Services: func(int) []string { return []string{"mailbox"} },
		Params: params,
		Configure: func(n *localnet.Node, f *nodeconfig.File) {
			if n.Role == nodeconfig.RoleGateway {
				f.Tor.Enabled = true
				f.Tor.DataDir = filepath.Join(n.Dir, "tor")
				f.Tor.Torrc = torrc
				f.Tor.BootstrapTimeout = "2m"
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	running, err := layout.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { // before ctx's cancel, which would kill the processes
		if err := running.StopAll(); err != nil {
			t.Error(err)
		}
	}()
	readyCtx, cancelReady := context.WithTimeout(ctx, 90*time.Second)
	defer cancelReady()
	if err := running.WaitReady(readyCtx); err != nil {
		t.Fatalf("the network did not come up: %v", err)
	}
	gwNode := layout.Node("gateway-0")
	onionAddr := awaitOnion(t, gwNode.Log, 2*time.Minute)
	t.Logf("Loam network ready and the gateway's onion service %s published %s after its processes started",
		onionAddr, time.Since(start).Round(time.Millisecond))
	gw := gatewayProcs(t, gwNode)

	netPath := filepath.Join(dir, "network.toml")
	if err := writeNetworkFile(netPath, layout); err != nil {
		t.Fatal(err)
	}
	nf, err := netfile.Read(netPath)
	if err != nil {
		t.Fatal(err)
	}
	nf.Tor.Torrc = torrc
	if err := netfile.Write(netPath, nf); err != nil {
		t.Fatal(err)
	}
	var authorities []string
	for _, p := range layout.Peers {
		authorities = append(authorities, strings.TrimPrefix(p.URL, "http://"))
	}

	// Identities and friend codes need no network.
	codes := map[string]string{}
	for _, who := range []string{"Alice", "Bob"} {
		b := runLoam(t, ctx, bin, dir, who, "init", "--name", who, "--network", netPath)
		var r struct {
			Code string `json:"friend_code"`
		}
		if err := json.Unmarshal(b, &r); err != nil || r.Code == "" {
			t.Fatalf("loam init for %s: %q, %v", who, b, err)
		}
		codes[who] = r.Code
	}
	runLoam(t, ctx, bin, dir, "Alice", "friend", "add", codes["Bob"])
	runLoam(t, ctx, bin, dir, "Bob", "friend", "add", codes["Alice"])

	picture, err := Picture(32 << 10) // the smallest this landscape comes
	if err != nil {
		t.Fatal(err)
	}
	picPath := filepath.Join(dir, "pond.jpg")
	if err := os.WriteFile(picPath, picture, 0o600); err != nil {
		t.Fatal(err)
	}
	text := "The pond froze overnight. Sent through Tor to the gateway, then five hops of Loam."

	postStart := time.Now()
	w := watchLoam(t, ctx, bin, dir, "Alice", gw, authorities, "--tor", "post", text, "--attach", picPath)
	postTime := time.Since(postStart)
	w.check(t, "Alice's post")
	// Her identity has used Tor: a run without --tor is refused before it
	// reaches any server (the authorities' and gateway's sockets would
	// show it; the command's error says why).
	if out, err := loamCmd(ctx, bin, dir, "Alice", "sync").CombinedOutput(); err == nil || !strings.Contains(string(out), "run with --tor") {
		t.Errorf("Alice's sync without --tor after a run with it: %v: %s", err, out)
	}
	syncStart := time.Now()
	w = watchLoam(t, ctx, bin, dir, "Bob", gw, authorities, "--tor", "sync")
	postToRead := time.Since(postStart)
	w.check(t, "Bob's sync")
	t.Logf("over Tor: Alice's `loam --tor post` (text + %d-byte picture) took %s, Bob's `loam --tor sync` %s; post to read %s (each command starts its own tor and reaches the gateway's onion service)",
		len(picture), postTime.Round(time.Millisecond), time.Since(syncStart).Round(time.Millisecond), postToRead.Round(time.Millisecond))

	var synced syncOutput
	if err := json.Unmarshal(w.out, &synced); err != nil {
		t.Fatalf("Bob's sync output %q: %v", w.out, err)
	}
	sum := sha256.Sum256(picture)
	if len(synced.New) != 1 || synced.New[0].Author != "Alice" || synced.New[0].Text != text ||
		len(synced.New[0].Attachments) != 1 || synced.New[0].Attachments[0].Name != "pond.jpg" ||
		synced.New[0].Attachments[0].Size != len(picture) || synced.New[0].Attachments[0].SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("Bob's sync did not read Alice's post intact: %s", w.out)
	}
	// And the picture itself, byte for byte, from Bob's store.
	saved := filepath.Join(dir, "bob-saw")
	runLoam(t, ctx, bin, dir, "Bob", "feed", "--save-attachments", saved)
	files, _ := filepath.Glob(filepath.Join(saved, "*-pond.jpg"))
	if len(files) != 1 {
		t.Fatalf("Bob's feed saved %v, want one pond.jpg", files)
	}
	if got, err := os.ReadFile(files[0]); err != nil || !bytes.Equal(got, picture) {
		t.Fatalf("the picture Bob saved differs from Alice's (%d bytes, %v)", len(got), err)
	}
}

// runLoam runs the loam CLI as who (data directory dir/who) with --json and
// returns its standard output.
func runLoam(t *testing.T, ctx context.Context, bin, dir, who string, args ...string) []byte {
	t.Helper()
	cmd := loamCmd(ctx, bin, dir, who, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("loam %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out
}

func loamCmd(ctx context.Context, bin, dir, who string, args ...string) *exec.Cmd {
	full := append([]string{"--dir", filepath.Join(dir, strings.ToLower(who)), "--json"}, args...)
	return exec.CommandContext(ctx, filepath.Join(bin, "loam"), full...)
}

// onionLine is the gateway's log line once its onion service is published.
var onionLine = regexp.MustCompile(`serving the onion service.*?([a-z2-7]{56}\.onion:[0-9]+)`)

// awaitOnion waits for the gateway's log to say its onion service is
// published and returns the address.
func awaitOnion(t *testing.T, logFile string, wait time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		b, _ := os.ReadFile(logFile)
		if m := onionLine.FindSubmatch(b); m != nil {
			return string(m[1])
		}
		if time.Now().After(deadline) {
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			t.Fatalf("the gateway published no onion service within %s; its log ends:\n%s",
				wait, strings.Join(lines[max(0, len(lines)-15):], "\n"))
		}
		time.Sleep(100 * time.Millisecond) // the test polls another process's log
	}
}

// gateway is the gateway's loam-node process and the tor it started.
type gateway struct {
	pid, torPID int
}

// gatewayProcs finds the gateway's process (by its node.toml on the command
// line) and its tor child.
func gatewayProcs(t *testing.T, n *localnet.Node) gateway {
	t.Helper()
	var pids []int
	for _, pid := range allPIDs() {
		if cmdline(pid) != nil && bytes.Contains(cmdline(pid), []byte(n.Config)) && !zombie(pid) {
			pids = append(pids, pid)
		}
	}
	if len(pids) != 1 {
		t.Fatalf("%d processes run %s, want 1", len(pids), n.Config)
	}
	g := gateway{pid: pids[0]}
	for _, c := range children(g.pid) {
		if bytes.Contains(cmdline(c), []byte(filepath.Join(n.Dir, "tor"))) {
			g.torPID = c
		}
	}
	if g.torPID == 0 {
		t.Fatalf("the gateway (pid %d) runs no tor on %s", g.pid, filepath.Join(n.Dir, "tor"))
	}
	return g
}

// watch is what the test saw of the sockets while one loam command ran.
type watch struct {
	out []byte
	// viaTor: the CLI's connections to its own tor; foreign: any other
	// connection of the CLI, to the authorities included.
	viaTor  int
	foreign []string
	// onionLinks: connections into the gateway from the gateway's tor
	// that were not there before the command started; direct: connections
	// into the gateway from the CLI or its children.
	onionLinks, direct int
}

func (w *watch) check(t *testing.T, what string) {
	t.Helper()
	t.Logf("%s: %d connections to its own tor (control and SOCKS ports), %d new into the gateway from the gateway's tor",
		what, w.viaTor, w.onionLinks)
	if len(w.foreign) > 0 {
		t.Errorf("%s: the CLI had connections elsewhere than its own tor: %v", what, w.foreign)
	}
	if w.direct > 0 {
		t.Errorf("%s: %d connections into the gateway came straight from the CLI", what, w.direct)
	}
	if w.viaTor == 0 {
		t.Errorf("%s: no connection from the CLI to its tor was seen", what)
	}
	if w.onionLinks == 0 {
		t.Errorf("%s: no new connection into the gateway from the gateway's tor (the onion service) was seen", what)
	}
}

// watchLoam runs a loam command as who and, until it exits, samples the
// sockets of the CLI, its tor, the gateway and the gateway's tor.
func watchLoam(t *testing.T, ctx context.Context, bin, dir, who string, gw gateway, authorities []string, args ...string) *watch {
	t.Helper()
	// Connections from the gateway's tor that an earlier command left
	// (Tor closes a circuit some time after its client went) are not this
	// command's.
	var earlier sample
	if err := earlier.take(0, gw, authorities); err != nil {
		t.Fatal(err)
	}
	cmd := loamCmd(ctx, bin, dir, who, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var seen sample
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("loam %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
			}
			w := &watch{out: stdout.Bytes(), viaTor: len(seen.toTor), direct: seen.direct}
			for a := range seen.onion {
				if !earlier.onion[a] {
					w.onionLinks++
				}
			}
			for a := range seen.foreign {
				w.foreign = append(w.foreign, a)
			}
			slices.Sort(w.foreign)
			return w
		case <-time.After(100 * time.Millisecond): // the test samples other processes
		}
		if err := seen.take(cmd.Process.Pid, gw, authorities); err != nil {
			t.Fatal(err)
		}
	}
}

// sample accumulates what the sockets showed over several looks.
type sample struct {
	toTor   map[string]bool // the CLI's connections to its own tor, by the CLI's address
	foreign map[string]bool // other addresses the CLI was connected to
	onion   map[string]bool // connections into the gateway from its tor, by the tor's address
	direct  int             // connections into the gateway from the CLI's processes
}

// take looks once at the sockets of the CLI (pid cli; 0 for none) and its
// children, and of the gateway and its tor.
func (s *sample) take(cli int, gw gateway, authorities []string) error {
	if s.toTor == nil {
		s.toTor, s.foreign, s.onion = map[string]bool{}, map[string]bool{}, map[string]bool{}
	}
	var clientSide []int
	if cli != 0 {
		clientSide = append([]int{cli}, children(cli)...)
	}
	socks, err := readTCP()
	if err != nil {
		return err
	}
	owner := map[string]int{} // socket inode → pid, for the processes of interest
	for _, pid := range append(slices.Clone(clientSide), gw.pid, gw.torPID) {
		for _, ino := range socketInodes(pid) {
			owner[ino] = pid
		}
	}
	byLocal := map[string]tcpSocket{}
	listening := map[int]map[string]bool{} // pid → its listening addresses
	for _, so := range socks {
		if so.state != tcpListen {
			byLocal[so.local] = so
			continue
		}
		pid, ok := owner[so.inode]
		if !ok {
			continue
		}
		if listening[pid] == nil {
			listening[pid] = map[string]bool{}
		}
		listening[pid][so.local] = true
		if port, ok := strings.CutPrefix(so.local, "0.0.0.0:"); ok { // any address: reached on loopback
			listening[pid]["127.0.0.1:"+port] = true
		}
	}
	ownTor := func(addr string) bool {
		for _, c := range clientSide[1:] {
			if listening[c][addr] {
				return true
			}
		}
		return false
	}
	for _, so := range socks {
		if so.state != tcpEstablished {
			continue
		}
		switch p := owner[so.inode]; {
		case cli != 0 && p == cli:
			switch {
			case ownTor(so.remote):
				s.toTor[so.local] = true
			case slices.Contains(authorities, so.remote):
				s.foreign[so.remote+" (a directory authority, reached without Tor)"] = true
			default:
				s.foreign[so.remote] = true
			}
		case p == gw.pid:
			if !listening[gw.pid][so.local] {
				continue // the gateway's own outgoing links and its control connection
			}
			peer, ok := byLocal[so.remote]
			if !ok {
				continue
			}
			switch q := owner[peer.inode]; {
			case q == gw.torPID:
				s.onion[so.remote] = true
			case slices.Contains(clientSide, q):
				s.direct++
			}
		}
	}
	return nil
}

const (
	tcpEstablished = "01"
	tcpListen      = "0A"
)

// tcpSocket is one line of /proc/net/tcp, addresses as "ip:port".
type tcpSocket struct {
	local, remote, state, inode string
}

func readTCP() ([]tcpSocket, error) {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return nil, err
	}
	var out []tcpSocket
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		local, err1 := kernelAddr(f[1])
		remote, err2 := kernelAddr(f[2])
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, tcpSocket{local: local, remote: remote, state: f[3], inode: f[9]})
	}
	return out, nil
}

// kernelAddr reads an address as /proc/net/tcp prints it: the IPv4
// address as a 32-bit value in host (little-endian) order, then the port,
// both in hex.
func kernelAddr(s string) (string, error) {
	ipHex, portHex, ok := strings.Cut(s, ":")
	ip, err := strconv.ParseUint(ipHex, 16, 32)
	if err != nil || !ok {
		return "", fmt.Errorf("bad address %q", s)
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return "", fmt.Errorf("bad address %q", s)
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(ip))
	return net.JoinHostPort(net.IP(b[:]).String(), strconv.Itoa(int(port))), nil
}

// socketInodes lists the socket inodes a process holds.
func socketInodes(pid int) []string {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if ino, ok := strings.CutPrefix(target, "socket:["); err == nil && ok {
			out = append(out, strings.TrimSuffix(ino, "]"))
		}
	}
	return out
}

func allPIDs() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

func cmdline(pid int) []byte {
	b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	return b
}

// stat returns the fields of /proc/pid/stat after the command name.
func stat(pid int) []string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

func zombie(pid int) bool {
	f := stat(pid)
	return len(f) < 1 || f[0] == "Z"
}

// children lists the live processes whose parent is pid.
func children(pid int) []int {
	var out []int
	for _, p := range allPIDs() {
		if f := stat(p); len(f) > 1 && f[1] == strconv.Itoa(pid) && f[0] != "Z" {
			out = append(out, p)
		}
	}
	return out
}
