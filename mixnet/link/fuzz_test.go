package link

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/flynn/noise"

	"loam/internal/clock"
)

// fuzzFrameLen keeps fuzz inputs small.
const fuzzFrameLen = MinFrameLen

var fuzzKey = [32]byte{1, 2, 3, 4, 5, 6, 7, 8}

type plainFrame struct {
	typ  byte
	body []byte
}

// sealedStream is what a sender under fuzzKey puts on the wire for frames,
// a rekey frame rekeying the sender as the protocol says.
func sealedStream(frames ...plainFrame) []byte {
	cs := noise.UnsafeNewCipherState(cipherSuite, fuzzKey, 0)
	var out []byte
	for _, f := range frames {
		plain := make([]byte, typeLen+fuzzFrameLen)
		plain[0] = f.typ
		copy(plain[typeLen:], f.body)
		out, _ = cs.Encrypt(out, nil, plain)
		if f.typ == typeRekey {
			cs.Rekey()
		}
	}
	return out
}

// FuzzReadFrame feeds arbitrary wire bytes to an established receiver. It
// may hand over only caller frames of FrameLen bytes, at most one per wire
// frame, and every error is sticky.
func FuzzReadFrame(f *testing.F) {
	w := fuzzFrameLen + FrameOverhead
	valid := sealedStream(
		plainFrame{0x01, []byte("first")},
		plainFrame{TypePadding, nil},
		plainFrame{0x7f, make([]byte, fuzzFrameLen)},
		plainFrame{typeRekey, nil},
		plainFrame{0x22, []byte("after rekey")},
	)
	f.Add(valid)
	f.Add(valid[:len(valid)-1])
	f.Add(valid[:w])
	f.Add(sealedStream(plainFrame{0x80, nil}))
	f.Add(sealedStream(plainFrame{TypePadding, []byte{1}}))
	f.Add(sealedStream(plainFrame{typeRekey, []byte{0, 1}}, plainFrame{0x01, nil}))
	flipped := append([]byte(nil), valid...)
	flipped[w+3] ^= 0x40
	f.Add(flipped)
	f.Add(make([]byte, 2*w))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		local, remote := memPair("fuzz-local", "fuzz-remote")
		fed := make(chan struct{})
		go func() {
			defer close(fed)
			remote.Write(in)
			remote.Close()
		}()
		s := &settings{frameLen: fuzzFrameLen, wireLen: w, rekeyFrames: DefaultRekeyFrames,
			rekeyInterval: DefaultRekeyInterval, clock: fixedClock{}}
		c := newConn(local, bufio.NewReader(local), s, PublicKey{},
			noise.UnsafeNewCipherState(cipherSuite, fuzzKey, 0),
			noise.UnsafeNewCipherState(cipherSuite, fuzzKey, 0))
		defer func() { c.Close(); <-fed }()
		for n := 0; ; n++ {
			typ, body, err := c.ReadFrame()
			if err != nil {
				if !errors.Is(err, ErrFrame) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("unexpected error %v", err)
				}
				if _, _, again := c.ReadFrame(); again != err {
					t.Fatalf("error not sticky: %v then %v", err, again)
				}
				return
			}
			if n >= len(in)/w {
				t.Fatalf("frame %d from %d input bytes", n+1, len(in))
			}
			if typ < TypeMinCaller || typ > TypeMaxCaller || len(body) != fuzzFrameLen {
				t.Fatalf("handed over type %#x with %d bytes", typ, len(body))
			}
		}
	})
}

// fixedClock is a Clock that never moves, for tests that need no time.
type fixedClock struct{}

func (fixedClock) Now() time.Time { return time.Unix(1e9, 0) }
func (fixedClock) AfterFunc(time.Duration, func()) clock.Timer {
	return stoppedTimer{}
}

type stoppedTimer struct{}

func (stoppedTimer) Stop() bool { return false }

// fuzzConfigs are fixed configs, so recorded handshakes make useful seeds.
func fuzzConfigs(f *testing.F) (client, server *Config) {
	ck, err := KeyPairFromPrivate([32]byte{11})
	if err != nil {
		f.Fatal(err)
	}
	sk, err := KeyPairFromPrivate([32]byte{22})
	if err != nil {
		f.Fatal(err)
	}
	client = &Config{FrameLen: fuzzFrameLen, Static: ck, Prologue: []byte("fuzz"), HandshakeTimeout: 5 * time.Second}
	server = &Config{FrameLen: fuzzFrameLen, Static: sk, Prologue: []byte("fuzz"), HandshakeTimeout: 5 * time.Second}
	return client, server
}

// recordHandshake runs a real handshake and returns what each side wrote.
func recordHandshake(f *testing.F, ccfg, scfg *Config) (initiator, responder []byte) {
	d, a := memPair("rec-d", "rec-a")
	var dw, aw capture
	r := handshakeOver(&tee{d, &dw}, &tee{a, &aw}, ccfg, scfg, scfg.Static.Public)
	if r.clientErr != nil || r.serverErr != nil {
		f.Fatal(r.clientErr, r.serverErr)
	}
	r.client.Close()
	r.server.Close()
	return dw.b, aw.b
}

type capture struct{ b []byte }

type tee struct {
	net.Conn
	c *capture
}

func (t *tee) Write(p []byte) (int, error) {
	t.c.b = append(t.c.b, p...)
	return t.Conn.Write(p)
}

// FuzzServerHandshake feeds arbitrary bytes to a responder as the
// initiator's handshake messages. No input may complete a handshake (that
// would take the responder's fresh ephemeral key), and none may panic.
func FuzzServerHandshake(f *testing.F) {
	ccfg, scfg := fuzzConfigs(f)
	w := scfg.WireFrameLen()
	initiator, _ := recordHandshake(f, ccfg, scfg)
	f.Add(initiator)            // a replay
	f.Add(initiator[:w])        // message 1 alone
	f.Add(initiator[:w-1])      // message 1 cut short
	f.Add(initiator[:w+KeyLen]) // part of message 3
	f.Add(make([]byte, 2*w))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		local, remote := memPair("fuzz-server", "fuzz-initiator")
		go func() {
			remote.Write(in)
			remote.Close()
		}()
		c, err := Server(context.Background(), local, scfg)
		if err == nil {
			c.Close()
			t.Fatal("a handshake completed from fixed bytes")
		}
		if !errors.Is(err, ErrHandshake) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

// FuzzClientHandshake feeds arbitrary bytes to an initiator as the
// responder's message 2.
func FuzzClientHandshake(f *testing.F) {
	ccfg, scfg := fuzzConfigs(f)
	w := scfg.WireFrameLen()
	_, responder := recordHandshake(f, ccfg, scfg)
	f.Add(responder) // a replay: another session's message 2
	f.Add(responder[:w-1])
	f.Add(append(responder, make([]byte, w)...))
	f.Add(make([]byte, w))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		local, remote := memPair("fuzz-client", "fuzz-responder")
		go func() {
			remote.Write(in)
			remote.Close()
		}()
		c, err := Client(context.Background(), local, ccfg, scfg.Static.Public)
		if err == nil {
			c.Close()
			t.Fatal("a handshake completed from fixed bytes")
		}
		if !errors.Is(err, ErrHandshake) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}
