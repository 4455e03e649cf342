package link

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/flynn/noise"

	"loam/internal/clock"
)

func TestHandshakePeers(t *testing.T) {
	for name, tr := range transports() {
		t.Run(name, func(t *testing.T) {
			checkNoLeak(t)
			ccfg, scfg := configs(t)
			c, s := linkPair(t, tr(), ccfg, scfg)
			if c.Peer() != scfg.Static.Public || s.Peer() != ccfg.Static.Public {
				t.Fatal("peers do not name each other's static keys")
			}
			if c.RemoteAddr() == nil || s.RemoteAddr() == nil {
				t.Fatal("no remote address")
			}
		})
	}
}

func TestAuthorizeRefuses(t *testing.T) {
	for name, tr := range transports() {
		t.Run(name, func(t *testing.T) {
			checkNoLeak(t)
			ccfg, scfg := configs(t)
			var asked []PublicKey
			refusal := errors.New("not on the list")
			scfg.Authorize = func(peer PublicKey) error {
				asked = append(asked, peer)
				return refusal
			}
			inner := tr()
			dialRec, listenRec := NewRecording(inner), NewRecording(inner)
			d, a := rawPair(t, listenRec, dialRec)
			r := handshakeOver(d, a, ccfg, scfg, scfg.Static.Public)
			if r.server != nil || !errors.Is(r.serverErr, ErrUnauthorized) || !errors.Is(r.serverErr, refusal) {
				t.Fatalf("server: %v", r.serverErr)
			}
			if len(asked) != 1 || asked[0] != ccfg.Static.Public {
				t.Fatalf("Authorize asked about %v", asked)
			}
			// XK lets the initiator finish; it learns of the refusal as a
			// closed stream, and never receives a frame.
			if r.clientErr != nil {
				t.Fatalf("client: %v", r.clientErr)
			}
			defer r.client.Close()
			r.client.WriteFrame(1, []byte("hello"))
			r.client.Flush()
			if typ, _, err := r.client.ReadFrame(); err == nil {
				t.Fatalf("refused initiator read a frame of type %d", typ)
			}
			// The responder sent message 2 and nothing after it.
			if w := listenRec.Writes(); len(w) != 1 || w[0] != scfg.WireFrameLen() {
				t.Fatalf("refusing responder wrote %v", w)
			}
		})
	}
}

func TestWrongResponderKey(t *testing.T) {
	checkNoLeak(t)
	ccfg, scfg := configs(t)
	d, a := rawPair(t, NewMemory(), nil)
	r := handshakeOver(d, a, ccfg, scfg, newKey(t).Public)
	if !errors.Is(r.clientErr, ErrHandshake) || !errors.Is(r.serverErr, ErrHandshake) {
		t.Fatalf("client %v, server %v", r.clientErr, r.serverErr)
	}
}

func TestLowOrderResponderKey(t *testing.T) {
	checkNoLeak(t)
	ccfg, _ := configs(t)
	d, a := rawPair(t, NewMemory(), nil)
	defer a.Close()
	// The all-zero key is a point of small order: es would be all zero.
	if _, err := Client(context.Background(), d, ccfg, PublicKey{}); !errors.Is(err, ErrHandshake) {
		t.Fatalf("client with a zero responder key: %v", err)
	}
}

func TestPrologueMismatch(t *testing.T) {
	checkNoLeak(t)
	ccfg, scfg := configs(t)
	scfg.Prologue = []byte("other net")
	d, a := rawPair(t, NewMemory(), nil)
	r := handshakeOver(d, a, ccfg, scfg, scfg.Static.Public)
	if !errors.Is(r.clientErr, ErrHandshake) || !errors.Is(r.serverErr, ErrHandshake) {
		t.Fatalf("client %v, server %v", r.clientErr, r.serverErr)
	}
}

func TestFrameLenMismatch(t *testing.T) {
	for _, c := range []struct {
		name           string
		client, server int
	}{
		{"client longer", testFrameLen + 1, testFrameLen},
		{"server longer", testFrameLen, testFrameLen + 1},
		{"much shorter", MinFrameLen, testFrameLen},
	} {
		t.Run(c.name, func(t *testing.T) {
			checkNoLeak(t)
			ccfg, scfg := configs(t)
			ccfg.FrameLen, scfg.FrameLen = c.client, c.server
			ccfg.HandshakeTimeout, scfg.HandshakeTimeout = 300*time.Millisecond, 300*time.Millisecond
			d, a := rawPair(t, TCP{}, nil)
			r := handshakeOver(d, a, ccfg, scfg, scfg.Static.Public)
			if !errors.Is(r.clientErr, ErrHandshake) || !errors.Is(r.serverErr, ErrHandshake) {
				t.Fatalf("client %v, server %v", r.clientErr, r.serverErr)
			}
		})
	}
}

// TestHandshakeTruncated cuts each side's handshake stream after every
// interesting number of bytes, then either hangs up or goes silent. Both
// sides must fail with ErrHandshake, within the deadline; except that an
// initiator whose message 3 is lost cannot know it (XK ends with its write),
// and must instead fail on its first read.
func TestHandshakeTruncated(t *testing.T) {
	const timeout = 100 * time.Millisecond
	_, cfg := configs(t)
	w := cfg.WireFrameLen()
	cases := []struct {
		side   string
		limits []int
	}{
		// The initiator writes message 1 then message 3.
		{"initiator", []int{0, 1, KeyLen - 1, KeyLen, KeyLen + 1, w / 2, w - 1, w, w + 1, w + msg3Fixed, 2*w - 1}},
		// The responder writes message 2.
		{"responder", []int{0, 1, KeyLen - 1, KeyLen, KeyLen + 1, w / 2, w - 1}},
	}
	// Every cut at once: the silent ones each wait out the timeout.
	checkNoLeak(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for _, c := range cases {
		for _, limit := range c.limits {
			for _, hangUp := range []bool{true, false} {
				ccfg, scfg := configs(t)
				ccfg.HandshakeTimeout, scfg.HandshakeTimeout = timeout, timeout
				d, a := rawPair(t, NewMemory(), nil)
				wg.Go(func() {
					if err := truncatedHandshake(c.side, limit, hangUp, d, a, ccfg, scfg); err != nil {
						errs <- err
					}
				})
			}
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func truncatedHandshake(side string, limit int, hangUp bool, d, a net.Conn, ccfg, scfg *Config) error {
	if side == "initiator" {
		d = &truncConn{Conn: d, limit: limit, hangUp: hangUp}
	} else {
		a = &truncConn{Conn: a, limit: limit, hangUp: hangUp}
	}
	start := time.Now()
	r := handshakeOver(d, a, ccfg, scfg, scfg.Static.Public)
	if side == "initiator" && limit >= ccfg.WireFrameLen() && r.clientErr == nil {
		_, _, err := r.client.ReadFrame()
		if err == nil {
			return fmt.Errorf("initiator cut at %d read a frame", limit)
		}
		r.clientErr = ErrHandshake // as good as
	}
	took := time.Since(start)
	if !errors.Is(r.clientErr, ErrHandshake) || !errors.Is(r.serverErr, ErrHandshake) {
		return fmt.Errorf("%s cut at %d (hang up %v): client %v, server %v", side, limit, hangUp, r.clientErr, r.serverErr)
	}
	if took > ccfg.HandshakeTimeout+2*time.Second {
		return fmt.Errorf("%s cut at %d: took %v", side, limit, took)
	}
	return nil
}

func TestHandshakeGarbage(t *testing.T) {
	checkNoLeak(t)
	ccfg, scfg := configs(t)
	ccfg.HandshakeTimeout, scfg.HandshakeTimeout = 200*time.Millisecond, 200*time.Millisecond
	w := scfg.WireFrameLen()
	for _, n := range []int{1, w, 3 * w} {
		junk := make([]byte, n)
		rand.Read(junk)

		// Garbage to a responder, from a peer that then hangs up.
		d1, a1 := rawPair(t, NewMemory(), nil)
		go func() { d1.Write(junk); d1.Close() }()
		if _, err := Server(context.Background(), a1, scfg); !errors.Is(err, ErrHandshake) {
			t.Fatalf("responder fed %d random bytes: %v", n, err)
		}

		// Garbage as message 2, from a peer that then waits.
		d2, a2 := rawPair(t, NewMemory(), nil)
		go func() {
			io.ReadFull(a2, make([]byte, w))
			a2.Write(junk)
			io.Copy(io.Discard, a2)
			a2.Close()
		}()
		if _, err := Client(context.Background(), d2, ccfg, scfg.Static.Public); !errors.Is(err, ErrHandshake) {
			t.Fatalf("initiator fed %d random bytes: %v", n, err)
		}
	}
}

func TestHandshakeSilentPeer(t *testing.T) {
	const timeout = 150 * time.Millisecond
	for name, tr := range transports() {
		t.Run(name, func(t *testing.T) {
			checkNoLeak(t)
			ccfg, scfg := configs(t)
			ccfg.HandshakeTimeout, scfg.HandshakeTimeout = timeout, timeout
			for _, side := range []string{"initiator", "responder"} {
				d, a := rawPair(t, tr(), nil)
				start := time.Now()
				var err error
				if side == "responder" {
					_, err = Server(context.Background(), a, scfg)
					d.Close()
				} else {
					_, err = Client(context.Background(), d, ccfg, scfg.Static.Public)
					a.Close()
				}
				took := time.Since(start)
				if !errors.Is(err, ErrHandshake) || !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("%s facing silence: %v", side, err)
				}
				if took < timeout || took > timeout+2*time.Second {
					t.Fatalf("%s gave up after %v, timeout %v", side, took, timeout)
				}
			}
		})
	}
}

// TestHandshakeTimeoutOnClock: the timeout runs on Config.Clock, so a
// simulation in virtual time sees it fire when its clock passes it.
func TestHandshakeTimeoutOnClock(t *testing.T) {
	checkNoLeak(t)
	v := clock.NewVirtual(time.Unix(1e9, 0))
	_, scfg := configs(t)
	scfg.Clock = v
	scfg.HandshakeTimeout = time.Minute
	d, a := rawPair(t, NewMemory(), nil)
	defer d.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := Server(context.Background(), a, scfg)
		errc <- err
	}()
	deadline := time.Now().Add(2 * time.Second)
	for v.Pending() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("handshake set no timer on its clock")
		}
		time.Sleep(time.Millisecond)
	}
	v.Advance(59 * time.Second)
	select {
	case err := <-errc:
		t.Fatalf("gave up before its timeout: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	v.Advance(time.Second)
	if err := <-errc; !errors.Is(err, ErrHandshake) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("after the virtual timeout: %v", err)
	}
}

func TestHandshakeContextCancel(t *testing.T) {
	checkNoLeak(t)
	ccfg, scfg := configs(t)
	d, a := rawPair(t, NewMemory(), nil)
	defer a.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := Client(ctx, d, ccfg, scfg.Static.Public)
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrHandshake) || !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled handshake: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancel did not stop the handshake")
	}
}

func TestConfigErrors(t *testing.T) {
	checkNoLeak(t)
	good, _ := configs(t)
	for _, c := range []struct {
		name string
		cfg  *Config
	}{
		{"nil", nil},
		{"no FrameLen", &Config{Static: good.Static}},
		{"FrameLen too small", &Config{FrameLen: MinFrameLen - 1}},
		{"FrameLen too large", &Config{FrameLen: MaxFrameLen + 1}},
		{"negative timeout", &Config{FrameLen: testFrameLen, HandshakeTimeout: -1}},
	} {
		d, a := rawPair(t, NewMemory(), nil)
		if _, err := Client(context.Background(), d, c.cfg, PublicKey{1}); !errors.Is(err, ErrConfig) {
			t.Fatalf("%s: Client: %v", c.name, err)
		}
		if _, err := Server(context.Background(), a, c.cfg); !errors.Is(err, ErrConfig) {
			t.Fatalf("%s: Server: %v", c.name, err)
		}
		// Both took ownership of their conns and closed them.
		if _, err := d.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("%s: conn left open: %v", c.name, err)
		}
	}
}

// independentInitiator runs the initiator's side of the handshake written
// from the SPEC draft with flynn/noise directly, padding message n's payload
// with pads[n-1] instead of zeros when it is not nil.
func independentInitiator(t *testing.T, raw net.Conn, cfg *Config, responder PublicKey, pads [3][]byte) (send, recv *noise.CipherState, err error) {
	t.Helper()
	w := cfg.FrameLen + 1 + 16
	hs, err := noise.NewHandshakeState(noise.Config{
		CipherSuite:   noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashBLAKE2b),
		Pattern:       noise.HandshakeXK,
		Initiator:     true,
		Prologue:      append([]byte("loam link v1\x00"), cfg.Prologue...),
		StaticKeypair: noise.DHKey{Private: cfg.Static.Private[:], Public: cfg.Static.Public[:]},
		PeerStatic:    responder[:],
	})
	if err != nil {
		t.Fatal(err)
	}
	pad := func(n, l int) []byte {
		if pads[n-1] != nil {
			return pads[n-1]
		}
		return make([]byte, l)
	}
	msg1, _, _, err := hs.WriteMessage(nil, pad(1, w-32-16))
	if err != nil {
		t.Fatal(err)
	}
	if len(msg1) != w {
		t.Fatalf("message 1 of %d bytes", len(msg1))
	}
	if _, err := raw.Write(msg1); err != nil {
		return nil, nil, err
	}
	msg2 := make([]byte, w)
	if _, err := io.ReadFull(raw, msg2); err != nil {
		return nil, nil, err
	}
	p2, _, _, err := hs.ReadMessage(nil, msg2)
	if err != nil {
		return nil, nil, err
	}
	if !bytes.Equal(p2, make([]byte, w-32-16)) {
		t.Fatalf("message 2 payload is not %d zero bytes", w-48)
	}
	msg3, send, recv, err := hs.WriteMessage(nil, pad(3, w-48-16))
	if err != nil {
		t.Fatal(err)
	}
	if len(msg3) != w {
		t.Fatalf("message 3 of %d bytes", len(msg3))
	}
	_, err = raw.Write(msg3)
	return send, recv, err
}

// TestIndependentInitiator checks the wire format against a second
// implementation of the initiator, and that the responder rejects non-zero
// padding in each message it reads.
func TestIndependentInitiator(t *testing.T) {
	checkNoLeak(t)
	ccfg, scfg := configs(t)
	w := scfg.WireFrameLen()

	d, a := rawPair(t, NewMemory(), nil)
	done := make(chan struct{})
	var srv *Conn
	var serr error
	go func() { defer close(done); srv, serr = Server(context.Background(), a, scfg) }()
	send, recv, err := independentInitiator(t, d, ccfg, scfg.Static.Public, [3][]byte{})
	<-done
	if err != nil || serr != nil {
		t.Fatalf("initiator %v, responder %v", err, serr)
	}
	defer d.Close()
	defer srv.Close()
	// A caller frame by hand: type ‖ body zero-padded, sealed, W bytes.
	plain := make([]byte, 1+scfg.FrameLen)
	plain[0] = 0x2a
	copy(plain[1:], "by hand")
	frame, err := send.Encrypt(nil, nil, plain)
	if err != nil || len(frame) != w {
		t.Fatalf("frame of %d bytes: %v", len(frame), err)
	}
	d.Write(frame)
	typ, body, err := srv.ReadFrame()
	if err != nil || typ != 0x2a || !bytes.Equal(body, plain[1:]) {
		t.Fatalf("read %#x %q %v", typ, body[:8], err)
	}
	// And back.
	srv.WriteFrame(0x11, []byte("reply"))
	srv.Flush()
	in := make([]byte, w)
	io.ReadFull(d, in)
	got, err := recv.Decrypt(nil, nil, in)
	if err != nil || got[0] != 0x11 || !bytes.HasPrefix(got[1:], []byte("reply")) {
		t.Fatalf("reply: %v", err)
	}

	for _, msg := range []int{1, 3} {
		l := w - 48
		if msg == 3 {
			l = w - 64
		}
		bad := make([]byte, l)
		bad[l-1] = 1
		var pads [3][]byte
		pads[msg-1] = bad
		d, a := rawPair(t, NewMemory(), nil)
		errc := make(chan error, 1)
		go func() { _, err := Server(context.Background(), a, scfg); errc <- err }()
		independentInitiator(t, d, ccfg, scfg.Static.Public, pads)
		if err := <-errc; !errors.Is(err, ErrHandshake) {
			t.Fatalf("non-zero padding in message %d: %v", msg, err)
		}
		d.Close()
	}
}
