package directory

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"loam/internal/clock"
)

// testNet is a network of authorities on 127.0.0.1, sharing one clock.
type testNet struct {
	t         *testing.T
	clk       clock.Clock
	params    Parameters
	threshold int
	keys      []ed25519.PrivateKey
	peers     []Peer
	dirs      []string
	auths     []*Authority
	servers   []*http.Server
	stopped   []chan struct{}
}

func newTestNet(t *testing.T, n, threshold int, clk clock.Clock, params Parameters) *testNet {
	t.Helper()
	tn := &testNet{t: t, clk: clk, params: params, threshold: threshold,
		auths: make([]*Authority, n), servers: make([]*http.Server, n), stopped: make([]chan struct{}, n)}
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln.Close() // reopened by start; the port only names the authority
		tn.keys = append(tn.keys, newKey(t))
		tn.peers = append(tn.peers, Peer{Key: tn.keys[len(tn.keys)-1].Public().(ed25519.PublicKey), URL: "http://" + ln.Addr().String()})
		tn.dirs = append(tn.dirs, t.TempDir())
	}
	t.Cleanup(func() {
		for i := range tn.auths {
			tn.stop(i)
		}
	})
	return tn
}

func quietLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}

func (tn *testNet) config(i int) AuthorityConfig {
	return AuthorityConfig{
		Key: tn.keys[i], Authorities: tn.peers, Threshold: tn.threshold, Params: tn.params,
		DataDir: tn.dirs[i], Clock: tn.clk, Logger: quietLogger(tn.t).With("i", i),
	}
}

// start creates authority i from its data directory, serves it and runs
// its protocol.
func (tn *testNet) start(i int) *Authority {
	tn.t.Helper()
	a, err := NewAuthority(tn.config(i))
	if err != nil {
		tn.t.Fatal(err)
	}
	tn.serve(i, a)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := a.Start(context.Background()); err != nil {
			tn.t.Error(err)
		}
	}()
	select {
	case <-a.Ready():
	case <-time.After(10 * time.Second):
		tn.t.Fatal("authority did not start")
	}
	tn.stopped[i] = done
	return a
}

func (tn *testNet) serve(i int, a *Authority) {
	tn.t.Helper()
	addr := tn.peers[i].URL[len("http://"):]
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; {
		if ln, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond) // the port of a stopped server may linger briefly
	}
	if err != nil {
		tn.t.Fatal(err)
	}
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	tn.auths[i], tn.servers[i] = a, srv
}

func (tn *testNet) stop(i int) {
	if tn.servers[i] != nil {
		tn.servers[i].Close()
		tn.servers[i] = nil
	}
	if tn.auths[i] != nil {
		tn.auths[i].Close()
		if tn.stopped[i] != nil {
			<-tn.stopped[i]
		}
		tn.auths[i], tn.stopped[i] = nil, nil
	}
}

func (tn *testNet) fetcher(cache string) *Fetcher {
	return &Fetcher{Authorities: tn.peers, Threshold: tn.threshold, CacheDir: cache, Logger: quietLogger(tn.t)}
}

func (tn *testNet) trusted() []ed25519.PublicKey { return publicKeys(tn.keys) }

// served returns what authority i serves at path, or nil on 404.
func (tn *testNet) served(i int, path string) []byte {
	tn.t.Helper()
	b, err := httpGet(context.Background(), http.DefaultClient, tn.peers[i].URL, path, MaxDocumentLen)
	if errors.Is(err, errNotFound) {
		return nil
	}
	if err != nil {
		tn.t.Fatal(err)
	}
	return b
}

// upload signs and uploads descriptors through a Fetcher.
func upload(t *testing.T, f *Fetcher, raws ...[]byte) {
	t.Helper()
	for _, b := range raws {
		if err := f.Upload(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
}

func raws(ds []*Descriptor) [][]byte {
	var out [][]byte
	for _, d := range ds {
		out = append(out, d.Raw())
	}
	return out
}

// TestThreeAuthorities runs three authorities on a virtual clock: they
// bootstrap the current epoch, then produce each epoch's document on the
// regular schedule; all serve byte-identical documents signed by all three.
// A restarted authority with an empty data directory adopts the current
// document from its peers. With one authority down the other two still make
// documents meeting threshold 2; with two down none verifies and the
// Fetcher falls back to its cache.
func TestThreeAuthorities(t *testing.T) {
	P := 20 * time.Minute
	sched := Schedule{Period: P}
	const c = 1_000_000
	clk := clock.NewVirtual(sched.Start(c).Add(P / 4))
	tn := newTestNet(t, 3, 2, clk, testParams(P))
	for i := range 3 {
		tn.start(i)
	}
	nodes := testNetwork(t, c, 4, clk.Now())
	f := tn.fetcher(t.TempDir())
	upload(t, f, raws(nodes)...)

	// Bootstrap round for c, then the regular round for c+1.
	clk.RunUntil(sched.Start(c + 1))
	for _, e := range []uint64{c, c + 1} {
		docs := make([][]byte, 3)
		for i := range docs {
			docs[i] = tn.served(i, fmt.Sprintf("/v1/documents/%d", e))
			if docs[i] == nil {
				t.Fatalf("authority %d serves no document for epoch %d", i, e)
			}
		}
		if !bytes.Equal(docs[0], docs[1]) || !bytes.Equal(docs[0], docs[2]) {
			t.Fatalf("epoch %d: authorities serve different documents", e)
		}
		d, err := ParseDocument(docs[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Verify(tn.trusted(), 3); err != nil {
			t.Fatalf("epoch %d: %v", e, err)
		}
		if d.Epoch != e || len(d.Nodes) != len(nodes) || d.Params != tn.params {
			t.Fatalf("epoch %d: document of epoch %d with %d nodes", e, d.Epoch, len(d.Nodes))
		}
		if len(d.Layer(1)) != 2 || len(d.Layer(2)) != 1 || len(d.Layer(3)) != 1 ||
			len(d.ByRole(RoleGateway)) != 1 || len(d.ByRole(RoleService)) != 1 {
			t.Fatalf("epoch %d: topology", e)
		}
	}
	cur, err := f.Current(context.Background())
	if err != nil || cur.Epoch != c+1 {
		t.Fatalf("Current: %v", err)
	}

	// Authority 0 loses its disk and restarts: it adopts the current
	// document from its peers at once, and nodes upload to it again.
	tn.stop(0)
	tn.dirs[0] = t.TempDir()
	tn.start(0)
	if got := tn.served(0, fmt.Sprintf("/v1/documents/%d", c+1)); !bytes.Equal(got, tn.served(1, fmt.Sprintf("/v1/documents/%d", c+1))) {
		t.Fatal("restarted authority did not adopt the current document")
	}
	upload(t, f, raws(nodes)...)

	// One authority down: the other two still produce documents.
	tn.stop(2)
	clk.RunUntil(sched.Start(c + 2))
	d2, err := f.Fetch(context.Background(), c+2)
	if err != nil {
		t.Fatal(err)
	}
	if err := d2.Verify(tn.trusted(), 2); err != nil {
		t.Fatal(err)
	}
	if err := d2.Verify(tn.trusted(), 3); !errors.Is(err, ErrTooFewSignatures) {
		t.Fatalf("two signatures met threshold 3: %v", err)
	}
	if len(d2.Nodes) != len(nodes) {
		t.Fatalf("epoch %d: %d nodes", c+2, len(d2.Nodes))
	}
	if !bytes.Equal(tn.served(0, fmt.Sprintf("/v1/documents/%d", c+2)), tn.served(1, fmt.Sprintf("/v1/documents/%d", c+2))) {
		t.Fatal("the remaining authorities serve different documents")
	}

	// Two down: no document for c+3 verifies; the cache still holds c+2.
	tn.stop(1)
	clk.RunUntil(sched.Start(c + 3))
	if tn.served(0, fmt.Sprintf("/v1/documents/%d", c+3)) != nil {
		t.Fatal("a lone authority served a document")
	}
	if _, err := f.Fetch(context.Background(), c+3); !errors.Is(err, ErrNoDocument) {
		t.Fatalf("Fetch with two authorities down: %v", err)
	}
	cached, err := f.LoadCached()
	if err != nil {
		t.Fatal(err)
	}
	if cached.Epoch != c+2 || !bytes.Equal(cached.Marshal(), d2.Marshal()) {
		t.Fatalf("LoadCached returned epoch %d", cached.Epoch)
	}
}

// TestBootstrapRealClock starts three authorities on the wall clock with a
// 3-second epoch: a document for the current epoch appears within seconds.
func TestBootstrapRealClock(t *testing.T) {
	P := 3 * time.Second
	tn := newTestNet(t, 3, 2, clock.Real(), testParams(P))
	sched := Schedule{Period: P}
	cur := sched.Epoch(time.Now())
	nodes := testNetwork(t, cur, 4, time.Now())
	for i := range 3 {
		a, err := NewAuthority(tn.config(i))
		if err != nil {
			t.Fatal(err)
		}
		tn.serve(i, a)
	}
	f := tn.fetcher("")
	upload(t, f, raws(nodes)...)
	began := time.Now()
	for i := range 3 {
		a := tn.auths[i]
		done := make(chan struct{})
		tn.stopped[i] = done
		go func() { defer close(done); a.Start(context.Background()) }()
	}
	for {
		d, err := f.Current(context.Background())
		if err == nil {
			if d.Epoch < cur || len(d.Nodes) != len(nodes) {
				t.Fatalf("document for epoch %d (started in %d) with %d nodes", d.Epoch, cur, len(d.Nodes))
			}
			t.Logf("document for epoch %d after %v", d.Epoch, time.Since(began))
			return
		}
		if time.Since(began) > 4*P {
			t.Fatalf("no document after %v: %v", time.Since(began), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAuthorityRestart: a restarted authority serves its vote, signature
// and document again, and does not vote a second time for an epoch it
// voted for.
func TestAuthorityRestart(t *testing.T) {
	P := 20 * time.Minute
	sched := Schedule{Period: P}
	const c = 500
	clk := clock.NewVirtual(sched.Start(c).Add(P / 4))
	tn := newTestNet(t, 1, 1, clk, testParams(P))
	tn.start(0)
	nodes := testNetwork(t, c, 4, clk.Now())
	f := tn.fetcher("")
	upload(t, f, raws(nodes)...)
	clk.RunUntil(sched.Start(c + 1))
	paths := []string{fmt.Sprintf("/v1/votes/%d", c+1), fmt.Sprintf("/v1/signatures/%d", c+1), fmt.Sprintf("/v1/documents/%d", c+1), "/v1/documents/current"}
	before := make([][]byte, len(paths))
	for i, p := range paths {
		if before[i] = tn.served(0, p); before[i] == nil {
			t.Fatalf("%s not served", p)
		}
	}
	tn.stop(0)
	a, err := NewAuthority(tn.config(0))
	if err != nil {
		t.Fatal(err)
	}
	tn.serve(0, a) // not started: serves what it loaded
	for i, p := range paths {
		if got := tn.served(0, p); !bytes.Equal(got, before[i]) {
			t.Fatalf("%s differs after restart", p)
		}
	}
	tn.stop(0)

	// Stop right after the vote for c+2; a node uploads; the restarted
	// authority finishes the round with the vote it cast.
	tn.start(0)
	clk.RunUntil(sched.Start(c + 2).Add(-P / 2))
	vote := tn.served(0, fmt.Sprintf("/v1/votes/%d", c+2))
	if vote == nil {
		t.Fatal("no vote")
	}
	tn.stop(0)
	a, err = NewAuthority(tn.config(0))
	if err != nil {
		t.Fatal(err)
	}
	late, lk := testDescriptor(t, RoleMix, 2, c+2, 1, clk.Now())
	if st, err := a.accept(signed(t, late, lk).Raw()); err == nil || st != http.StatusUnprocessableEntity {
		t.Fatalf("accepted a descriptor only for an epoch already voted: %d %v", st, err)
	}
	later, lk := testDescriptor(t, RoleMix, 2, c+2, 2, clk.Now())
	if st, err := a.accept(signed(t, later, lk).Raw()); err != nil || st != http.StatusAccepted {
		t.Fatalf("refused a descriptor with a key for an open epoch: %d %v", st, err)
	}
	tn.serve(0, a)
	go a.Start(context.Background())
	<-a.Ready()
	clk.RunUntil(sched.Start(c + 2))
	if !bytes.Equal(tn.served(0, fmt.Sprintf("/v1/votes/%d", c+2)), vote) {
		t.Fatal("voted again after a restart")
	}
	d, err := f.Fetch(context.Background(), c+2)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Nodes) != len(nodes) {
		t.Fatalf("%d nodes", len(d.Nodes))
	}
}

func TestAuthorityCorruptState(t *testing.T) {
	P := 20 * time.Minute
	sched := Schedule{Period: P}
	clk := clock.NewVirtual(sched.Start(40).Add(P / 4))
	tn := newTestNet(t, 1, 1, clk, testParams(P))
	tn.start(0)
	clk.RunUntil(sched.Start(41))
	tn.stop(0)
	path := store{dir: tn.dirs[0]}.epochPath(41, voteFile)
	b, err := readLimited(path, MaxDocumentLen)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1
	if err := writeAtomic(path, b); err != nil {
		t.Fatal(err)
	}
	if _, err := NewAuthority(tn.config(0)); err == nil {
		t.Fatal("started from a corrupt vote")
	}
}

func TestAuthorityConfig(t *testing.T) {
	keys := []ed25519.PrivateKey{newKey(t), newKey(t), newKey(t)}
	peers := make([]Peer, 3)
	for i, k := range keys {
		peers[i] = Peer{Key: k.Public().(ed25519.PublicKey), URL: fmt.Sprintf("http://127.0.0.1:%d", 7000+i)}
	}
	good := AuthorityConfig{Key: keys[0], Authorities: peers, Threshold: 2, Params: testParams(time.Minute)}
	if _, err := NewAuthority(good); err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(*AuthorityConfig){
		"short key":          func(c *AuthorityConfig) { c.Key = c.Key[:10] },
		"not listed":         func(c *AuthorityConfig) { c.Key = newKey(t) },
		"threshold 1 of 3":   func(c *AuthorityConfig) { c.Threshold = 1 },
		"threshold 4 of 3":   func(c *AuthorityConfig) { c.Threshold = 4 },
		"duplicate peer":     func(c *AuthorityConfig) { c.Authorities = append(c.Authorities, c.Authorities[1]) },
		"bad URL":            func(c *AuthorityConfig) { c.Authorities = []Peer{peers[0], {Key: peers[1].Key, URL: "ftp://x"}} },
		"no authorities":     func(c *AuthorityConfig) { c.Authorities = nil },
		"invalid parameters": func(c *AuthorityConfig) { c.Params.Hops = 2 },
		"negative bootstrap": func(c *AuthorityConfig) { c.Bootstrap = -time.Second },
	}
	for name, mutate := range bad {
		c := good
		c.Authorities = append([]Peer(nil), peers...)
		mutate(&c)
		if _, err := NewAuthority(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	good.Threshold = 0
	a, err := NewAuthority(good)
	if err != nil || a.threshold != 2 {
		t.Fatalf("default threshold: %v", err)
	}
	a.Close()
	if err := a.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
}
