package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"loam/cmd/loam-node/nodeconfig"
	"loam/internal/clock"
	"loam/mixnet/link"
	"loam/onion"
)

func testInjector(c clock.Clock, control string, rules ...nodeconfig.FaultRule) *faultInjector {
	f := &faultInjector{cfg: nodeconfig.Faults{Enabled: true, Control: control}, log: slog.New(slog.DiscardHandler), clock: c,
		version: prometheus.NewGauge(prometheus.GaugeOpts{Name: "v"}), delayed: prometheus.NewCounter(prometheus.CounterOpts{Name: "d"}),
		held: prometheus.NewCounter(prometheus.CounterOpts{Name: "h"})}
	f.rules.Store(&rules)
	return f
}

// TestFaultDrop: a rule drops packets to the next hops it names with its
// probability, and none to others.
func TestFaultDrop(t *testing.T) {
	a, b := onion.NodeID{1}, onion.NodeID{2}
	f := testInjector(clock.Real(), "", nodeconfig.FaultRule{To: []onion.NodeID{a}, Loss: 0.5})
	const n = 20000
	dropped := 0
	for range n {
		if f.drop(a) {
			dropped++
		}
		if f.drop(b) {
			t.Fatal("dropped a packet to a next hop no rule names")
		}
	}
	// 0.5 ± 5 standard deviations of a binomial(20000, 0.5).
	if dropped < n/2-355 || dropped > n/2+355 {
		t.Fatalf("dropped %d of %d at loss 0.5", dropped, n)
	}
}

// TestFaultHold: a reorder rule holds its share of packets back, each by
// at most its hold, and none to next hops it does not name.
func TestFaultHold(t *testing.T) {
	a, b := onion.NodeID{1}, onion.NodeID{2}
	f := testInjector(clock.Real(), "", nodeconfig.FaultRule{To: []onion.NodeID{a}, Reorder: 0.25, Hold: 200 * time.Millisecond})
	const n = 20000
	held := 0
	var longest time.Duration
	for range n {
		if d := f.hold(a); d > 0 {
			held++
			longest = max(longest, d)
		}
		if f.hold(b) != 0 {
			t.Fatal("held a packet to a next hop no rule names")
		}
	}
	// 0.25 ± 5 standard deviations of a binomial(20000, 0.25).
	if held < n/4-307 || held > n/4+307 {
		t.Fatalf("held %d of %d at reorder 0.25", held, n)
	}
	if longest > 200*time.Millisecond || longest < 150*time.Millisecond {
		t.Fatalf("the longest hold was %v; want up to 200ms, and near it over %d holds", longest, held)
	}
	if got := testutil.ToFloat64(f.held); got != float64(held) {
		t.Fatalf("counted %v holds, made %d", got, held)
	}
}

// TestDelayConnKeepsOrder: writes on a delayed link arrive after their
// delay and in the order written, however the jitter falls; with no delay
// in force they pass at once.
func TestDelayConnKeepsOrder(t *testing.T) {
	v := clock.NewVirtual(time.Unix(1000, 0))
	next := onion.NodeID{7}
	f := testInjector(v, "", nodeconfig.FaultRule{To: []onion.NodeID{next}, Delay: 100 * time.Millisecond, Jitter: 400 * time.Millisecond})
	near, far := net.Pipe()
	defer far.Close()
	c := newDelayConn(near, f, next, true)
	defer c.Close()
	got := make(chan string, 100)
	go func() {
		buf := make([]byte, 16)
		for {
			n, err := far.Read(buf)
			if err != nil {
				close(got)
				return
			}
			got <- string(buf[:n])
		}
	}()
	const n = 40
	for i := range n {
		if _, err := c.Write([]byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	waitPending(t, v)
	select {
	case s := <-got:
		t.Fatalf("%q arrived before its delay", s)
	default:
	}
	v.Advance(99 * time.Millisecond)
	select {
	case s := <-got:
		t.Fatalf("%q arrived before its delay", s)
	default:
	}
	v.Advance(401 * time.Millisecond) // every write is due by now
	for i := range n {
		select {
		case s := <-got:
			if s != strconv.Itoa(i) {
				t.Fatalf("write %d arrived as %q: out of order", i, s)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("write %d never arrived, though due", i)
		}
	}
	// Rules lifted: once the queue is empty, writes pass at once.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		c.mu.Lock()
		pending := c.pending
		c.mu.Unlock()
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes still pending after all arrived", pending)
		}
	}
	empty := []nodeconfig.FaultRule{}
	f.rules.Store(&empty)
	if _, err := c.Write([]byte("now")); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "now" {
		t.Fatalf("got %q", s)
	}
	if got := testutil.ToFloat64(f.delayed); got != n {
		t.Fatalf("delayed counter %v, want %d", got, n)
	}
}

func waitPending(t *testing.T, v *clock.Virtual) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for v.Pending() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the delayed writer armed no timer")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestDelayConnFailsAfterWriteError: once a delayed write fails, the
// link is closed and every later write fails.
func TestDelayConnFailsAfterWriteError(t *testing.T) {
	f := testInjector(clock.Real(), "", nodeconfig.FaultRule{Delay: time.Millisecond})
	near, far := net.Pipe()
	far.Close()
	c := newDelayConn(near, f, onion.NodeID{}, false)
	defer c.Close()
	c.Write([]byte("x"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := c.Write([]byte("y")); err != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("writes still succeed after the link failed")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFaultReload: the control file's rules replace those in force and
// its version is exported; a bad file keeps them; a rule naming next hops
// does not delay a link whose next hop is unknown.
func TestFaultReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.toml")
	f := testInjector(clock.Real(), path, nodeconfig.FaultRule{Loss: 1})
	next := onion.NodeID{3}
	f.reload() // no file: node.toml's rule stays
	if !f.drop(next) {
		t.Fatal("node.toml's rule is not in force")
	}
	write := func(c *nodeconfig.FaultControl) {
		t.Helper()
		if err := os.WriteFile(path, nodeconfig.EncodeFaultControl(c), 0o600); err != nil {
			t.Fatal(err)
		}
		f.reload()
	}
	write(&nodeconfig.FaultControl{Version: 4, Rules: []nodeconfig.FaultRule{{To: []onion.NodeID{next}, Delay: time.Second}}})
	if f.drop(next) || f.delay(next, true) != time.Second || f.delay(next, false) != 0 || f.delay(onion.NodeID{4}, true) != 0 {
		t.Fatal("the control file's rules are not the ones in force")
	}
	if got := testutil.ToFloat64(f.version); got != 4 {
		t.Fatalf("version %v, want 4", got)
	}
	if err := os.WriteFile(path, []byte("[[rules]]\nloss = 7.0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.reload()
	if f.delay(next, true) != time.Second || testutil.ToFloat64(f.version) != 4 {
		t.Fatal("a refused control file changed the rules in force")
	}
	write(&nodeconfig.FaultControl{Version: 5})
	if f.drop(next) || f.delay(next, true) != 0 || testutil.ToFloat64(f.version) != 5 {
		t.Fatal("an empty rule list did not lift the faults")
	}
}

// TestRunNodeWithFaults: a mix with [faults] enabled warns that it
// injects faults, exports loam_faults_enabled, loads a control file's
// rules (its version shows in /metrics) and stops cleanly.
func TestRunNodeWithFaults(t *testing.T) {
	dir := t.TempDir()
	id, err := nodeconfig.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	lk, err := link.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	if err := nodeconfig.WriteIdentity(dir, id, false); err != nil {
		t.Fatal(err)
	}
	if err := nodeconfig.WriteLink(dir, lk, false); err != nil {
		t.Fatal(err)
	}
	ports := freeLocalPorts(t, 2)
	f := nodeconfig.Defaults()
	f.Role, f.Name, f.Layer = "mix", "faulty", 1
	f.Listen, f.MetricsListen = "127.0.0.1:"+ports[0], "127.0.0.1:"+ports[1]
	f.Directory.Authorities = []nodeconfig.AuthorityEntry{{Key: nodeconfig.EncodeKey(make([]byte, 32)), URL: "http://127.0.0.1:1"}}
	f.Faults = nodeconfig.FaultsSection{Enabled: true, Control: "rules.toml", Loss: 0.5, Delay: "0s", Jitter: "0s"}
	path := filepath.Join(dir, "node.toml")
	if err := f.Write(path, false); err != nil {
		t.Fatal(err)
	}
	cfg, err := nodeconfig.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var logs safeBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runNode(ctx, cancel, cfg, slog.New(slog.NewTextHandler(&logs, nil))) }()
	metric := func(name string) string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			resp, err := http.Get("http://" + f.MetricsListen + "/metrics")
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				for _, line := range strings.Split(string(body), "\n") {
					if v, ok := strings.CutPrefix(line, name+" "); ok {
						return v
					}
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("/metrics never showed %s", name)
		return ""
	}
	if v := metric("loam_faults_enabled"); v != "1" {
		t.Fatalf("loam_faults_enabled %s", v)
	}
	rules := nodeconfig.EncodeFaultControl(&nodeconfig.FaultControl{Version: 3, Rules: []nodeconfig.FaultRule{{Delay: time.Millisecond}}})
	if err := os.WriteFile(filepath.Join(dir, "rules.toml"), rules, 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for metric("loam_faults_version") != "3" {
		if time.Now().After(deadline) {
			t.Fatal("the control file's version never showed in /metrics")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("runNode: %v", err)
	}
	if !strings.Contains(logs.String(), "FAULT INJECTION IS ON") {
		t.Fatalf("no warning in the log:\n%s", logs.String())
	}
}

func freeLocalPorts(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	var held []net.Listener
	defer func() {
		for _, ln := range held {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, ln)
		out = append(out, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	return out
}

// safeBuffer is a bytes.Buffer for a logger on another goroutine.
type safeBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *safeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *safeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
