package tor

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"loam/internal/testnet"
	"loam/internal/tornet"
	"loam/mixnet"
	"loam/mixnet/directory"
	"loam/mixnet/link"
)

// The private Tor network is shared by this package's tests: starting one
// takes 15-35 s.
var (
	shared     *tornet.Network
	sharedErr  error
	sharedDir  string
	sharedOnce sync.Once
)

func TestMain(m *testing.M) {
	// Every tor these tests start must be confined to the private network:
	// Start refuses any torrc that is not.
	checkTorrc = func(path string) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return tornet.CheckPrivate(strings.Split(string(b), "\n"))
	}
	code := m.Run()
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	if sharedDir != "" {
		os.RemoveAll(sharedDir)
	}
	os.Exit(code)
}

// privateTor returns the shared private Tor network, starting it on first
// use. Without Debian's tor the test fails (never skips) with the hint to
// install it: a green run always means Tor was really used.
func privateTor(t *testing.T) *tornet.Network {
	t.Helper()
	sharedOnce.Do(func() {
		sharedDir, sharedErr = os.MkdirTemp("", "loam-tornet-")
		if sharedErr != nil {
			return
		}
		shared, sharedErr = tornet.StartWith(context.Background(),
			tornet.Options{Dir: sharedDir, Logger: testLogger()})
		if shared != nil {
			fmt.Fprintf(os.Stderr, "private Tor network: consensus after %s, client bootstrapped after %s\n",
				shared.Consensus.Round(time.Millisecond), shared.Bootstrapped.Round(time.Millisecond))
		}
	})
	if sharedErr != nil {
		t.Fatalf("private Tor network: %v", sharedErr)
	}
	return shared
}

func testLogger() *slog.Logger {
	if os.Getenv("LOAM_TOR_LOG") != "" { // debugging a failing test
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startTor starts a Loam tor on the private network, closed when the test
// ends.
func startTor(t *testing.T, tn *tornet.Network, dataDir string) *Tor {
	t.Helper()
	start := time.Now()
	tr, err := Start(context.Background(), Config{DataDir: dataDir, ExtraTorrc: tn.ClientTorrc(),
		BootstrapTimeout: 120 * time.Second, PublishTimeout: 120 * time.Second, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tor %d bootstrapped in %s", tr.PID(), time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := tr.Close(); err != nil {
			t.Error(err)
		}
	})
	return tr
}

// TestEchoOverTor: a Loam network in process whose gateway is also an onion
// service; a client whose only transport is a second tor reaches it through
// Tor and gets its echo replies back. The gateway's side of the client's
// link is a socket of the gateway's tor process, not of the client.
func TestEchoOverTor(t *testing.T) {
	tn := privateTor(t)
	const port = 4242
	gwDir := t.TempDir()
	onionAddr, err := OnionAddress(gwDir, port) // known before tor runs: it goes in the descriptor
	if err != nil {
		t.Fatal(err)
	}
	var gwTor, clientTor *Tor
	var wg sync.WaitGroup
	wg.Go(func() { gwTor = startTor(t, tn, gwDir) })
	wg.Go(func() { clientTor = startTor(t, tn, t.TempDir()) })
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	loam := testnet.Start(t, testnet.Options{Node: func(cfg *mixnet.Config) {
		if cfg.Role == directory.RoleGateway {
			cfg.OnionAddress = onionAddr
		}
	}})
	gateway := loam.Nodes[0] // testnet starts the gateway first

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	start := time.Now()
	ln, addr, err := gwTor.ListenOnion(ctx, port)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("onion service %s published in %s", addr, time.Since(start).Round(time.Millisecond))
	if addr != onionAddr {
		t.Fatalf("ListenOnion published %s, but the stored key's address is %s", addr, onionAddr)
	}
	onionLn := &recordingListener{Listener: ln}
	if err := gateway.Serve(onionLn); err != nil {
		t.Fatal(err)
	}

	dials := &recordingTransport{inner: clientTor.Transport()}
	c := newOnionClient(t, loam, dials)
	start = time.Now()
	loam.WaitReady(t, c)
	t.Logf("client connected through Tor in %s", time.Since(start).Round(time.Millisecond))

	rtts := echoOverTor(t, c, 10)
	slices.Sort(rtts)
	t.Logf("echo round trips over Tor (gateway link through Tor, 5 mix hops each way at 5 ms mean delay): min %s, median %s, max %s",
		rtts[0].Round(time.Millisecond), rtts[len(rtts)/2].Round(time.Millisecond), rtts[len(rtts)-1].Round(time.Millisecond))

	// The client dialled nothing but the gateway's onion address...
	for _, a := range dials.addrs() {
		if a != onionAddr {
			t.Errorf("the client dialled %s; want only %s", a, onionAddr)
		}
	}
	// ...and what it reached was its own tor's SOCKS port.
	for _, conn := range dials.conns() {
		if got := conn.RemoteAddr().String(); got != clientTor.SocksAddr() {
			t.Errorf("the client's connection goes to %s, not to its tor's SOCKS port %s", got, clientTor.SocksAddr())
		}
	}
	// The gateway's end of every link that came in on the onion service is
	// a connection from a socket of the gateway's tor process.
	accepted := onionLn.remotes()
	if len(accepted) == 0 {
		t.Fatal("the gateway accepted no connection on its onion service")
	}
	fromTor := 0
	for _, remote := range accepted {
		ra := remote.(*net.TCPAddr)
		if !ra.IP.Equal(net.IPv4(127, 0, 0, 1)) {
			t.Errorf("an onion connection came from %s", ra)
		}
		inode, err := socketInode(ra)
		if err != nil {
			continue // that connection has closed since
		}
		if owns(os.Getpid(), inode) {
			t.Errorf("the gateway's onion connection from %s is a socket of the client's process", ra)
		}
		if !owns(gwTor.PID(), inode) {
			t.Errorf("the gateway's onion connection from %s is not a socket of the gateway's tor (pid %d)", ra, gwTor.PID())
		}
		fromTor++
	}
	if fromTor == 0 {
		t.Error("no open onion connection at the gateway to check")
	}

	// A dropped link is an ordinary failed connection: the client dials
	// the onion service again and its requests get answers.
	before := len(onionLn.remotes())
	start = time.Now()
	onionLn.dropAll()
	deadline := time.Now().Add(60 * time.Second)
	for {
		connected, _, _ := c.Status()
		if connected && len(onionLn.remotes()) > before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the client did not reconnect through Tor within 60 s")
		}
		time.Sleep(20 * time.Millisecond) // the test polls; nothing in the protocol waits on it
	}
	t.Logf("client reconnected through Tor in %s after its link was dropped", time.Since(start).Round(time.Millisecond))
	echoOverTor(t, c, 3)
}

// echoOverTor sends n echo requests, one at a time, and returns their
// round-trip times.
func echoOverTor(t *testing.T, c *mixnet.Client, n int) []time.Duration {
	t.Helper()
	services, err := c.Services("echo")
	if err != nil {
		t.Fatal(err)
	}
	var rtts []time.Duration
	for i := range n {
		body := []byte(fmt.Sprintf("echo over tor %d", i))
		pkt, keys, err := c.NewRequest(services[i%len(services)], "echo", body)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := c.Send(pkt); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-c.Replies():
			if r.ID != keys.ID {
				t.Fatalf("reply for SURB %v, want %v", r.ID, keys.ID)
			}
			got, err := c.Geometry().OpenReply(keys, r.Sealed)
			if err != nil {
				t.Fatalf("opening reply: %v", err)
			}
			if !bytes.HasPrefix(got, body) {
				t.Fatalf("reply %q, want %q", got[:len(body)], body)
			}
			rtts = append(rtts, time.Since(start))
		case <-time.After(60 * time.Second):
			t.Fatalf("no echo reply %d within 60 s", i)
		}
	}
	return rtts
}

func newOnionClient(t *testing.T, loam *testnet.Network, tr link.Transport) *mixnet.Client {
	t.Helper()
	lk, err := link.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	c, err := mixnet.NewClient(mixnet.ClientConfig{Link: lk, Network: loam.Network(), ViaOnion: true,
		Transport: tr, Directory: loam.Fetcher(t.TempDir()), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err = c.Start(context.Background())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("client start: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // set-up polls for the first directory document
	}
	t.Cleanup(c.Close)
	return c
}

// TestRestartKeepsOnionAddress: a tor closed and started again on the same
// DataDir publishes the same onion address; Close leaves no process behind.
func TestRestartKeepsOnionAddress(t *testing.T) {
	tn := privateTor(t)
	dir := t.TempDir()
	var addrs []string
	for range 2 {
		tr := startTor(t, tn, dir)
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		ln, addr, err := tr.ListenOnion(ctx, 80)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := tr.ListenOnion(context.Background(), 81); !errors.Is(err, ErrConfig) {
			t.Errorf("a second onion service on one Tor: err %v, want ErrConfig", err)
		}
		addrs = append(addrs, addr)
		pid := tr.PID()
		if kv, err := tr.bine.Control.GetInfo("process/pid"); err != nil || len(kv) != 1 || kv[0].Val != strconv.Itoa(pid) {
			t.Fatalf("PID() = %d; tor says %v (%v)", pid, kv, err)
		}
		if err := tr.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil && !zombie(pid) {
			t.Fatalf("tor process %d still runs after Close", pid)
		}
		if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close: err %v, want net.ErrClosed", err)
		}
		if err := ln.Close(); err != nil {
			t.Errorf("closing the listener of a closed Tor: %v", err)
		}
		if _, err := tr.Transport().Dial(context.Background(), addr); !errors.Is(err, ErrClosed) {
			t.Errorf("Dial after Close: err %v, want ErrClosed", err)
		}
	}
	if addrs[0] != addrs[1] {
		t.Fatalf("onion address changed across a restart: %s then %s", addrs[0], addrs[1])
	}
	want, _ := OnionAddress(dir, 80)
	if addrs[0] != want {
		t.Fatalf("published %s, OnionAddress says %s", addrs[0], want)
	}
}

// TestBootstrapDeadline: a tor whose only authority does not answer fails
// to bootstrap with ErrBootstrap at the deadline and is stopped.
func TestBootstrapDeadline(t *testing.T) {
	zero := strings.Repeat("0", 40)
	start := time.Now()
	_, err := Start(context.Background(), Config{DataDir: t.TempDir(), BootstrapTimeout: 3 * time.Second,
		Logger: testLogger(), ExtraTorrc: []string{
			"TestingTorNetwork 1",
			"UseDefaultFallbackDirs 0",
			"DirAuthority nowhere orport=1 no-v2 v3ident=" + zero + " 127.0.0.1:1 " + zero,
		}})
	if !errors.Is(err, ErrBootstrap) {
		t.Fatalf("err %v, want ErrBootstrap", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("Start took %s to give up with a 3 s deadline", d)
	}
	t.Logf("as expected: %v", strings.SplitN(err.Error(), "\n", 2)[0])
}

// TestStartCancelled: Start gives up when its context ends and leaves no
// tor behind.
func TestStartCancelled(t *testing.T) {
	zero := strings.Repeat("0", 40)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Start(ctx, Config{DataDir: dir, Logger: testLogger(), ExtraTorrc: []string{
		"TestingTorNetwork 1",
		"UseDefaultFallbackDirs 0",
		"DirAuthority nowhere orport=1 no-v2 v3ident=" + zero + " 127.0.0.1:1 " + zero,
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if pids := torsUsing(dir); len(pids) > 0 {
		t.Fatalf("tor processes %v still run on %s", pids, dir)
	}
}

// torsUsing lists live processes whose command line names dir.
func torsUsing(dir string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || zombie(pid) {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(dir)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestRefusesPublicTorrc: in these tests Start refuses, before launching
// tor, any torrc that would reach the public Tor network.
func TestRefusesPublicTorrc(t *testing.T) {
	for name, extra := range map[string][]string{
		"no lines":        nil,
		"no testing":      {"UseDefaultFallbackDirs 0", "DirAuthority a orport=1 no-v2 v3ident=AA 127.0.0.1:1 AA"},
		"fallbacks":       {"TestingTorNetwork 1", "DirAuthority a orport=1 no-v2 v3ident=AA 127.0.0.1:1 AA"},
		"public address":  {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", "DirAuthority a orport=1 no-v2 v3ident=AA 128.31.0.39:9131 AA"},
		"with a fallback": {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", "DirAuthority a orport=1 no-v2 v3ident=AA 127.0.0.1:1 AA", "FallbackDir 1.2.3.4:80 orport=443 id=AA"},
	} {
		_, err := Start(context.Background(), Config{DataDir: t.TempDir(), ExtraTorrc: extra, Logger: testLogger()})
		if !errors.Is(err, tornet.ErrNotPrivate) {
			t.Errorf("%s: err %v, want tornet.ErrNotPrivate", name, err)
		}
	}
}

// recordingListener remembers every connection it accepts.
type recordingListener struct {
	net.Listener
	mu    sync.Mutex
	addrs []net.Addr
	conns []net.Conn
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.addrs = append(l.addrs, c.RemoteAddr())
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

// dropAll closes every connection accepted so far, as a failing Tor
// circuit would end them.
func (l *recordingListener) dropAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
	l.conns = nil
}

func (l *recordingListener) remotes() []net.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.addrs)
}

// recordingTransport remembers what the client dialled.
type recordingTransport struct {
	inner link.Transport
	mu    sync.Mutex
	dials []string
	made  []net.Conn
}

func (r *recordingTransport) Dial(ctx context.Context, addr string) (net.Conn, error) {
	c, err := r.inner.Dial(ctx, addr)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dials = append(r.dials, addr)
	if err == nil {
		r.made = append(r.made, c)
	}
	return c, err
}

func (r *recordingTransport) Listen(addr string) (net.Listener, error) { return r.inner.Listen(addr) }

func (r *recordingTransport) addrs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.dials)
}

func (r *recordingTransport) conns() []net.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.made)
}

// socketInode finds the inode of the IPv4 TCP socket whose local address is
// a, from /proc/net/tcp.
func socketInode(a *net.TCPAddr) (string, error) {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return "", err
	}
	ip := a.IP.To4()
	if ip == nil {
		return "", errors.New("not IPv4")
	}
	// The address as the kernel prints it: the 32-bit value in host
	// (little-endian) order, then the port, both in hex.
	want := fmt.Sprintf("%08X:%04X", binary.LittleEndian.Uint32(ip), a.Port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 9 && f[1] == want && f[9] != "0" {
			return f[9], nil
		}
	}
	return "", errors.New("no such socket")
}

// owns reports whether process pid holds the socket with this inode.
func owns(pid int, inode string) bool {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && target == "socket:["+inode+"]" {
			return true
		}
	}
	return false
}

func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && b[i+2] == 'Z'
}
