package link

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"loam/onion"
)

// testFrameLen is the default geometry's onion packet length: what links
// carry in production.
var testFrameLen = onion.DefaultGeometry.PacketLen()

func newKey(t testing.TB) KeyPair {
	t.Helper()
	k, err := GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// configs returns matching client and server configs with fresh keys.
func configs(t testing.TB) (client, server *Config) {
	t.Helper()
	client = &Config{FrameLen: testFrameLen, Static: newKey(t), Prologue: []byte("test net")}
	server = &Config{FrameLen: testFrameLen, Static: newKey(t), Prologue: []byte("test net")}
	return client, server
}

var memNames atomic.Uint64

// listenAddr is where a test listener goes: loopback for TCP, a fresh name
// for anything in memory.
func listenAddr(tr Transport) string {
	if _, ok := tr.(TCP); ok {
		return "127.0.0.1:0"
	}
	return fmt.Sprintf("node-%d", memNames.Add(1))
}

// rawPair connects two raw conns through tr: the dialer's and the
// acceptor's. Dialing through dialVia (if not nil) and listening through tr
// lets a test record one side only.
func rawPair(t testing.TB, tr, dialVia Transport) (dialed, accepted net.Conn) {
	t.Helper()
	if dialVia == nil {
		dialVia = tr
	}
	l, err := tr.Listen(listenAddr(unwrapTransport(tr)))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type result struct {
		c   net.Conn
		err error
	}
	acc := make(chan result, 1)
	go func() {
		c, err := l.Accept()
		acc <- result{c, err}
	}()
	dialed, err = dialVia.Dial(context.Background(), l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-acc
	if r.err != nil {
		dialed.Close()
		t.Fatal(r.err)
	}
	return dialed, r.c
}

func unwrapTransport(tr Transport) Transport {
	if r, ok := tr.(*Recording); ok {
		return unwrapTransport(r.inner)
	}
	return tr
}

type handshakeResult struct {
	client, server       *Conn
	clientErr, serverErr error
}

// handshakeOver runs Client and Server at once over raw conns.
func handshakeOver(dialed, accepted net.Conn, ccfg, scfg *Config, responder PublicKey) handshakeResult {
	var r handshakeResult
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.server, r.serverErr = Server(context.Background(), accepted, scfg)
	}()
	r.client, r.clientErr = Client(context.Background(), dialed, ccfg, responder)
	<-done
	return r
}

// linkPair returns an established client and server link over tr, closed
// when the test ends.
func linkPair(t testing.TB, tr Transport, ccfg, scfg *Config) (client, server *Conn) {
	t.Helper()
	d, a := rawPair(t, tr, nil)
	r := handshakeOver(d, a, ccfg, scfg, scfg.Static.Public)
	if r.clientErr != nil || r.serverErr != nil {
		t.Fatalf("handshake: client %v, server %v", r.clientErr, r.serverErr)
	}
	t.Cleanup(func() {
		r.client.Close()
		r.server.Close()
	})
	return r.client, r.server
}

// transports are the byte streams every link test runs over.
func transports() map[string]func() Transport {
	return map[string]func() Transport{
		"tcp":    func() Transport { return TCP{} },
		"memory": func() Transport { return NewMemory() },
	}
}

// checkNoLeak fails the test if goroutines started during it are still
// running shortly after it ends.
func checkNoLeak(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), leakedStacks(string(buf)))
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// leakedStacks drops the testing framework's own goroutines from a dump.
func leakedStacks(dump string) string {
	var keep []string
	for _, g := range strings.Split(dump, "\n\n") {
		if strings.Contains(g, "mixnet/link") && !strings.Contains(g, "testing.tRunner") {
			keep = append(keep, g)
		}
	}
	return strings.Join(keep, "\n\n")
}

// tamperConn flips bits of what passes through Write at given stream
// offsets, as an active attacker on the wire would.
type tamperConn struct {
	net.Conn
	written int64
	flip    map[int64]byte // stream offset -> XOR mask
}

func (c *tamperConn) Write(p []byte) (int, error) {
	q := append([]byte(nil), p...)
	for i := range q {
		if m, ok := c.flip[c.written+int64(i)]; ok {
			q[i] ^= m
		}
	}
	c.written += int64(len(p))
	return c.Conn.Write(q)
}

// truncConn passes on only the first limit bytes written to it; later bytes
// are dropped (the writer is told they went). With hangUp it closes the
// stream once the limit is reached, otherwise it goes silent.
type truncConn struct {
	net.Conn
	limit   int
	written int
	hangUp  bool
}

func (c *truncConn) Write(p []byte) (int, error) {
	pass := min(len(p), max(0, c.limit-c.written))
	c.written += len(p)
	if pass > 0 {
		if _, err := c.Conn.Write(p[:pass]); err != nil {
			return 0, err
		}
	}
	if c.hangUp && c.written >= c.limit {
		c.Conn.Close()
	}
	return len(p), nil
}
