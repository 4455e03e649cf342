package link

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/flynn/noise"
	"pgregory.net/rapid"

	"loam/internal/clock"
)

// bodyLen cycles through every length class: empty, short, half, one short
// of full, and full.
func bodyLen(i, frameLen int) int {
	classes := []int{0, 1, 8, 100, frameLen / 2, frameLen - 1, frameLen}
	return classes[i%len(classes)]
}

// testFrame is frame i of a stream tagged with tag: its type and body (the
// sequence number first, so a reordered or lost frame is caught).
func testFrame(tag byte, i, frameLen int) (byte, []byte) {
	body := make([]byte, bodyLen(i, frameLen))
	for j := range body {
		body[j] = tag ^ byte(i*7+j)
	}
	if len(body) >= 4 {
		binary.BigEndian.PutUint32(body, uint32(i))
	}
	return byte(1 + i%int(TypeMaxCaller)), body
}

// sendFrames writes n frames, a keepalive every 13th and a Flush every 7th.
func sendFrames(c *Conn, tag byte, n int) error {
	for i := range n {
		typ, body := testFrame(tag, i, c.FrameLen())
		if err := c.WriteFrame(typ, body); err != nil {
			return fmt.Errorf("frame %d: %w", i, err)
		}
		if i%13 == 0 {
			if err := c.WriteKeepalive(); err != nil {
				return err
			}
		}
		if i%7 == 0 {
			if err := c.Flush(); err != nil {
				return err
			}
		}
	}
	return c.Flush()
}

// receiveFrames reads n frames and checks each against testFrame.
func receiveFrames(c *Conn, tag byte, n int) error {
	for i := range n {
		typ, body, err := c.ReadFrame()
		if err != nil {
			return fmt.Errorf("frame %d: %w", i, err)
		}
		wantTyp, want := testFrame(tag, i, c.FrameLen())
		if typ != wantTyp || len(body) != c.FrameLen() ||
			!bytes.Equal(body[:len(want)], want) || !allZero(body[len(want):]) {
			return fmt.Errorf("frame %d: type %#x, %d bytes, not what was sent", i, typ, len(body))
		}
	}
	return nil
}

// exchange sends n frames each way at once and checks them.
func exchange(t testing.TB, a, b *Conn, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	run := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				errs <- err
			}
		}()
	}
	run(func() error { return sendFrames(a, 'a', n) })
	run(func() error { return receiveFrames(b, 'a', n) })
	run(func() error { return sendFrames(b, 'b', n) })
	run(func() error { return receiveFrames(a, 'b', n) })
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestRoundTrip(t *testing.T) {
	for name, tr := range transports() {
		t.Run(name, func(t *testing.T) {
			checkNoLeak(t)
			ccfg, scfg := configs(t)
			c, s := linkPair(t, tr(), ccfg, scfg)
			exchange(t, c, s, 3000)
			st := s.Stats()
			if st.PaddingDropped == 0 || st.FramesReceived != 3000+st.PaddingDropped {
				t.Fatalf("server stats %+v", st)
			}
		})
	}
}

// TestWritesAreWholeFrames: an observer of the stream sees only whole wire
// frames of one length, handshake included, in both directions.
func TestWritesAreWholeFrames(t *testing.T) {
	for name, tr := range transports() {
		t.Run(name, func(t *testing.T) {
			checkNoLeak(t)
			ccfg, scfg := configs(t)
			ccfg.RekeyFrames, scfg.RekeyFrames = 5, 7
			rec := NewRecording(tr())
			c, s := linkPair(t, rec, ccfg, scfg)
			exchange(t, c, s, 500)
			w := ccfg.WireFrameLen()
			all := rec.Writes()
			conns := rec.ConnWrites()
			if len(conns) != 2 || len(all) < 4 {
				t.Fatalf("recorded %d conns, %d writes", len(conns), len(all))
			}
			for _, n := range all {
				if n <= 0 || n%w != 0 {
					t.Fatalf("a write of %d bytes; W = %d", n, w)
				}
			}
			for i, writes := range conns {
				total := 0
				for _, n := range writes {
					total += n
				}
				// Each side's first write is one handshake message.
				if writes[0] != w || total%w != 0 {
					t.Fatalf("conn %d: first write %d, total %d; W = %d", i, writes[0], total, w)
				}
			}
		})
	}
}

func TestRekeyFrames(t *testing.T) {
	checkNoLeak(t)
	ccfg, scfg := configs(t)
	ccfg.RekeyFrames, scfg.RekeyFrames = 3, 3
	c, s := linkPair(t, NewMemory(), ccfg, scfg)
	const n = 3000
	exchange(t, c, s, n)
	cs, ss := c.Stats(), s.Stats()
	// Keepalives count as frames too: at least one rekey per 3 caller frames.
	if cs.RekeysSent < n/3-1 || ss.RekeysReceived != cs.RekeysSent ||
		ss.RekeysSent < n/3-1 || cs.RekeysReceived != ss.RekeysSent {
		t.Fatalf("client %+v, server %+v", cs, ss)
	}
}

func TestRekeyInterval(t *testing.T) {
	checkNoLeak(t)
	v := clock.NewVirtual(time.Unix(1e9, 0))
	ccfg, scfg := configs(t)
	ccfg.Clock, scfg.Clock = v, v
	ccfg.RekeyInterval, scfg.RekeyInterval = time.Minute, time.Minute
	c, s := linkPair(t, NewMemory(), ccfg, scfg)

	round := func(wantRekeys uint64) {
		t.Helper()
		exchange(t, c, s, 5)
		if st := c.Stats(); st.RekeysSent != wantRekeys || s.Stats().RekeysReceived != wantRekeys {
			t.Fatalf("client %+v, server %+v; want %d rekeys", st, s.Stats(), wantRekeys)
		}
		if st := s.Stats(); st.RekeysSent != wantRekeys || c.Stats().RekeysReceived != wantRekeys {
			t.Fatalf("server %+v, client %+v; want %d rekeys", st, c.Stats(), wantRekeys)
		}
	}
	round(0)
	v.Advance(59 * time.Second)
	round(0)
	v.Advance(time.Second)
	round(1)
	v.Advance(30 * time.Second)
	round(1)
	v.Advance(10 * time.Minute)
	round(2)
}

// keyedPair is a link from a sender to a receiver that share the session
// key k without a handshake, the sender's stream passing through wrap.
func keyedPair(t testing.TB, frameLen int, k [32]byte, wrap func(net.Conn) net.Conn) (sender, receiver *Conn) {
	d, a := memPair("sender", "receiver")
	s := &settings{frameLen: frameLen, wireLen: frameLen + FrameOverhead,
		rekeyFrames: DefaultRekeyFrames, rekeyInterval: DefaultRekeyInterval, clock: fixedClock{}}
	sender = newConn(wrap(d), bufio.NewReader(d), s, PublicKey{},
		noise.UnsafeNewCipherState(cipherSuite, k, 0), noise.UnsafeNewCipherState(cipherSuite, k, 0))
	receiver = newConn(a, bufio.NewReader(a), s, PublicKey{},
		noise.UnsafeNewCipherState(cipherSuite, k, 0), noise.UnsafeNewCipherState(cipherSuite, k, 0))
	t.Cleanup(func() {
		sender.Close()
		receiver.Close()
	})
	return sender, receiver
}

// TestFlippedBit: an active attacker flips one bit of one frame on the wire.
// The frames before it arrive; that frame is an ErrFrame, and so is every
// later read.
func TestFlippedBit(t *testing.T) {
	w := int64(testFrameLen + FrameOverhead)
	rapid.Check(t, func(rt *rapid.T) {
		const frames = 6
		k := rapid.IntRange(0, frames-1).Draw(rt, "frame")
		bit := rapid.Int64Range(0, w*8-1).Draw(rt, "bit")
		rekeyEvery := rapid.Uint64Range(1, frames+1).Draw(rt, "rekey every")
		key := [32]byte(rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(rt, "key"))
		flip := map[int64]byte{int64(k)*w + bit/8: 1 << (bit % 8)}
		snd, rcv := keyedPair(t, testFrameLen, key, func(c net.Conn) net.Conn {
			return &tamperConn{Conn: c, flip: flip}
		})
		snd.rekeyFrames = rekeyEvery
		// Send until wire frame k (rekey notices count) is out.
		sent := 0
		for snd.Stats().FramesSent <= uint64(k) {
			typ, body := testFrame('x', sent, snd.FrameLen())
			if err := snd.WriteFrame(typ, body); err != nil {
				rt.Fatal(err)
			}
			sent++
		}
		if err := snd.Flush(); err != nil {
			rt.Fatal(err)
		}
		// The frames before the flipped one arrive intact and in order.
		var err error
		for i := 0; ; i++ {
			var typ byte
			var body []byte
			if typ, body, err = rcv.ReadFrame(); err != nil {
				break
			}
			wantTyp, want := testFrame('x', i, rcv.FrameLen())
			if typ != wantTyp || !bytes.Equal(body[:len(want)], want) {
				rt.Fatalf("frame %d changed", i)
			}
		}
		if !errors.Is(err, ErrFrame) {
			rt.Fatalf("flipped frame %d bit %d: %v", k, bit, err)
		}
		if got := rcv.Stats().FramesReceived; got != uint64(k) {
			rt.Fatalf("%d frames authenticated before the flipped frame %d", got, k)
		}
		if _, _, again := rcv.ReadFrame(); again != err {
			rt.Fatalf("read after a fatal error: %v", again)
		}
	})
}

// TestFlippedHandshakeBit: a flipped bit anywhere in the handshake fails it.
func TestFlippedHandshakeBit(t *testing.T) {
	ccfg, scfg := configs(t)
	w := int64(ccfg.WireFrameLen())
	rapid.Check(t, func(rt *rapid.T) {
		initiator := rapid.Bool().Draw(rt, "initiator side")
		span := w // message 2
		if initiator {
			span = 2 * w // messages 1 and 3
		}
		bit := rapid.Int64Range(0, span*8-1).Draw(rt, "bit")
		flip := map[int64]byte{bit / 8: 1 << (bit % 8)}
		d, a := rawPair(t, NewMemory(), nil)
		if initiator {
			d = &tamperConn{Conn: d, flip: flip}
		} else {
			a = &tamperConn{Conn: a, flip: flip}
		}
		r := handshakeOver(d, a, ccfg, scfg, scfg.Static.Public)
		if r.client != nil {
			defer r.client.Close()
		}
		if !errors.Is(r.serverErr, ErrHandshake) {
			rt.Fatalf("responder accepted a flipped bit %d (initiator side %v): %v", bit, initiator, r.serverErr)
		}
		if r.clientErr == nil {
			if !initiator || bit < w*8 {
				rt.Fatalf("initiator accepted a flipped bit %d", bit)
			}
			// A flip in message 3 is found by the responder only.
			if _, _, err := r.client.ReadFrame(); err == nil {
				rt.Fatal("initiator read a frame after a failed handshake")
			}
		}
	})
}

// write bypasses WriteFrame's checks, as a hostile or buggy peer could.
func TestReceivedBadTypes(t *testing.T) {
	for _, c := range []struct {
		typ  byte
		body []byte
	}{
		{0x80, nil}, {0xc3, nil}, {0xfe, []byte("x")},
		{TypePadding, []byte{0, 0, 1}},
		{typeRekey, []byte{1}},
	} {
		ccfg, scfg := configs(t)
		cl, s := linkPair(t, NewMemory(), ccfg, scfg)
		cl.WriteFrame(1, []byte("fine"))
		cl.write(c.typ, c.body)
		cl.Flush()
		if typ, _, err := s.ReadFrame(); typ != 1 || err != nil {
			t.Fatalf("first frame: %v", err)
		}
		if _, _, err := s.ReadFrame(); !errors.Is(err, ErrFrame) {
			t.Fatalf("type %#x body %x: %v", c.typ, c.body, err)
		}
		// Fatal: the link is closed, so the sender finds out too.
		if _, _, err := cl.ReadFrame(); err == nil {
			t.Fatal("link still open after a fatal frame")
		}
	}
}

func TestWriteFrameRefuses(t *testing.T) {
	ccfg, scfg := configs(t)
	c, s := linkPair(t, NewMemory(), ccfg, scfg)
	for _, typ := range []byte{TypePadding, 0x80, 0xfe, typeRekey} {
		if err := c.WriteFrame(typ, nil); !errors.Is(err, ErrFrame) {
			t.Fatalf("type %#x: %v", typ, err)
		}
	}
	if err := c.WriteFrame(1, make([]byte, c.FrameLen()+1)); !errors.Is(err, ErrFrame) {
		t.Fatalf("long body: %v", err)
	}
	// Refusals send nothing and leave the link working.
	if err := sendFrames(c, 'q', 3); err != nil {
		t.Fatal(err)
	}
	if err := receiveFrames(s, 'q', 3); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.FramesSent != 4 { // three frames and one keepalive
		t.Fatalf("stats %+v", st)
	}
}

func TestNonceExhaustion(t *testing.T) {
	ccfg, scfg := configs(t)
	c, s := linkPair(t, NewMemory(), ccfg, scfg)
	s.recv.SetNonce(noise.MaxNonce + 1)
	c.WriteFrame(1, nil)
	c.Flush()
	if _, _, err := s.ReadFrame(); !errors.Is(err, noise.ErrMaxNonce) {
		t.Fatalf("receiving past the last nonce: %v", err)
	}
	c2, _ := linkPair(t, NewMemory(), ccfg, scfg)
	c2.send.SetNonce(noise.MaxNonce + 1)
	if err := c2.WriteFrame(1, nil); !errors.Is(err, noise.ErrMaxNonce) {
		t.Fatalf("sending past the last nonce: %v", err)
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	for name, tr := range transports() {
		t.Run(name, func(t *testing.T) {
			checkNoLeak(t)
			ccfg, scfg := configs(t)
			c, _ := linkPair(t, tr(), ccfg, scfg)
			errc := make(chan error, 1)
			go func() {
				_, _, err := c.ReadFrame()
				errc <- err
			}()
			time.Sleep(20 * time.Millisecond) // let the read block; it fails either way
			go c.Close()
			select {
			case err := <-errc:
				if !errors.Is(err, net.ErrClosed) {
					t.Fatalf("read on a closed link: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Close did not unblock ReadFrame")
			}
		})
	}
}

func TestCloseUnblocksWrite(t *testing.T) {
	for name, tr := range transports() {
		t.Run(name, func(t *testing.T) {
			checkNoLeak(t)
			ccfg, scfg := configs(t)
			c, _ := linkPair(t, tr(), ccfg, scfg) // the server never reads
			errc := make(chan error, 1)
			go func() {
				body := make([]byte, c.FrameLen())
				for {
					if err := c.WriteFrame(1, body); err != nil {
						errc <- err
						return
					}
				}
			}()
			time.Sleep(50 * time.Millisecond) // let the writer fill the stream
			c.Close()
			select {
			case err := <-errc:
				if err == nil {
					t.Fatal("no error")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Close did not unblock a blocked writer")
			}
		})
	}
}

func TestPeerCloseIsEOF(t *testing.T) {
	ccfg, scfg := configs(t)
	c, s := linkPair(t, NewMemory(), ccfg, scfg)
	s.WriteFrame(5, []byte("last"))
	s.Flush()
	s.Close()
	if typ, _, err := c.ReadFrame(); typ != 5 || err != nil {
		t.Fatalf("frame before close: %v", err)
	}
	if _, _, err := c.ReadFrame(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the peer closed: %v", err)
	}
}
