package link

import (
	"bufio"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flynn/noise"

	"loam/internal/clock"
)

// Conn is an established link. One goroutine may write (WriteFrame,
// WriteKeepalive, Flush) while another reads (ReadFrame); Close may be called
// from any goroutine. After a fatal error on either side the link is closed.
type Conn struct {
	raw      net.Conn
	peer     PublicKey
	frameLen int
	wireLen  int

	// Writer state, owned by the writing goroutine.
	send          *noise.CipherState
	clock         clock.Clock
	rekeyFrames   uint64
	rekeyInterval time.Duration
	sealed        uint64    // frames sealed under the current sending key
	lastRekey     time.Time // when the current sending key began, on clock
	plain         []byte    // one frame's plaintext: type ‖ body
	wbuf          []byte    // whole wire frames awaiting Flush
	wn            int       // bytes of wbuf in use, a multiple of wireLen
	werr          error     // sticky: the link can no longer send

	// Reader state, owned by the reading goroutine.
	br   *bufio.Reader
	recv *noise.CipherState
	rbuf []byte // one wire frame, decrypted in place
	rerr error  // sticky: the link can no longer receive

	closeOnce sync.Once
	closeErr  error
	stats     counters
}

func newConn(raw net.Conn, br *bufio.Reader, s *settings, peer PublicKey, send, recv *noise.CipherState) *Conn {
	return &Conn{
		raw:           raw,
		peer:          peer,
		frameLen:      s.frameLen,
		wireLen:       s.wireLen,
		send:          send,
		clock:         s.clock,
		rekeyFrames:   s.rekeyFrames,
		rekeyInterval: s.rekeyInterval,
		lastRekey:     s.clock.Now(),
		plain:         make([]byte, typeLen+s.frameLen),
		wbuf:          make([]byte, ioBufferLen(s.wireLen)),
		br:            br,
		recv:          recv,
		rbuf:          make([]byte, s.wireLen),
	}
}

// SetWriteDeadline bounds the socket writes of later Flushes, as
// net.Conn's does; the zero time removes the bound. A write that misses it
// fails the link like any other write error: it may have sent part of a
// frame.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(t) }

// Peer returns the other side's static key: the responder's as the initiator
// named it, or the initiator's as its third handshake message proved it.
func (c *Conn) Peer() PublicKey { return c.peer }

// RemoteAddr returns the underlying connection's remote address.
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// FrameLen returns the number of body bytes in every frame.
func (c *Conn) FrameLen() int { return c.frameLen }

// Close closes the underlying connection, unblocking a ReadFrame or Flush in
// progress. Frames still buffered are not sent; Flush first to send them.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.raw.Close() })
	return c.closeErr
}

// Stats counts a link's frames; every field is a running total.
type Stats struct {
	FramesSent     uint64 // wire frames sealed, of every type
	FramesReceived uint64 // wire frames that authenticated, of every type
	PaddingSent    uint64 // keepalive frames among FramesSent
	PaddingDropped uint64 // keepalive frames among FramesReceived
	RekeysSent     uint64
	RekeysReceived uint64
}

type counters struct {
	framesSent, framesReceived atomic.Uint64
	paddingSent, paddingDrop   atomic.Uint64
	rekeysSent, rekeysReceived atomic.Uint64
}

// Stats returns the link's counters. It may be called from any goroutine.
func (c *Conn) Stats() Stats {
	return Stats{
		FramesSent:     c.stats.framesSent.Load(),
		FramesReceived: c.stats.framesReceived.Load(),
		PaddingSent:    c.stats.paddingSent.Load(),
		PaddingDropped: c.stats.paddingDrop.Load(),
		RekeysSent:     c.stats.rekeysSent.Load(),
		RekeysReceived: c.stats.rekeysReceived.Load(),
	}
}
