package link

import (
	"errors"
	"fmt"
	"io"

	"github.com/flynn/noise"
)

// WriteFrame buffers one caller frame: typ in 0x01..0x7f and up to FrameLen
// body bytes, zero-padded to FrameLen. It sends only when the buffer is full
// of whole frames; call Flush to send the rest. Before the frame it sends a
// rekey notice when RekeyFrames or RekeyInterval says so. A type or length
// it cannot send is refused with ErrFrame and changes nothing.
func (c *Conn) WriteFrame(typ byte, body []byte) error {
	if typ < TypeMinCaller || typ > TypeMaxCaller {
		return fmt.Errorf("%w: type %#02x is not a caller type", ErrFrame, typ)
	}
	if len(body) > c.frameLen {
		return fmt.Errorf("%w: body of %d bytes, frames hold %d", ErrFrame, len(body), c.frameLen)
	}
	return c.write(typ, body)
}

// WriteKeepalive buffers a padding frame (type 0x00, zero body), which the
// peer drops; like WriteFrame it needs a Flush to go out at once.
func (c *Conn) WriteKeepalive() error {
	return c.write(TypePadding, nil)
}

// Flush sends every buffered frame.
func (c *Conn) Flush() error {
	if c.werr != nil {
		return c.werr
	}
	if err := c.flush(); err != nil {
		return c.failWrite(err)
	}
	return nil
}

func (c *Conn) write(typ byte, body []byte) error {
	if c.werr != nil {
		return c.werr
	}
	if c.rekeyDue() {
		// The notice is the last frame under the old key.
		if err := c.seal(typeRekey, nil); err != nil {
			return c.failWrite(err)
		}
		c.send.Rekey()
		c.sealed = 0
		c.lastRekey = c.clock.Now()
		c.stats.rekeysSent.Add(1)
	}
	if err := c.seal(typ, body); err != nil {
		return c.failWrite(err)
	}
	if typ == TypePadding {
		c.stats.paddingSent.Add(1)
	}
	return nil
}

func (c *Conn) rekeyDue() bool {
	return c.sealed >= c.rekeyFrames || c.clock.Now().Sub(c.lastRekey) >= c.rekeyInterval
}

// seal encrypts type ‖ body ‖ zero padding into the next slot of the write
// buffer, flushing first if the buffer is full.
func (c *Conn) seal(typ byte, body []byte) error {
	if len(c.wbuf)-c.wn < c.wireLen {
		if err := c.flush(); err != nil {
			return err
		}
	}
	c.plain[0] = typ
	n := copy(c.plain[typeLen:], body)
	clear(c.plain[typeLen+n:])
	slot := c.wbuf[c.wn : c.wn : c.wn+c.wireLen]
	out, err := c.send.Encrypt(slot, nil, c.plain)
	if err != nil {
		// Only noise.ErrMaxNonce: 2^64 frames under one session.
		return fmt.Errorf("link: sealing frame: %w", err)
	}
	if len(out) != c.wireLen || &out[0] != &c.wbuf[c.wn] {
		return errors.New("link: internal error: sealed frame outside its slot")
	}
	c.wn += c.wireLen
	c.sealed++
	c.stats.framesSent.Add(1)
	return nil
}

// flush writes the buffered frames in one Write: always whole frames.
func (c *Conn) flush() error {
	if c.wn == 0 {
		return nil
	}
	_, err := c.raw.Write(c.wbuf[:c.wn])
	c.wn = 0
	if err != nil {
		return fmt.Errorf("link: sending frames: %w", err)
	}
	return nil
}

// failWrite makes err the writer's sticky error and closes the link: a
// stream that may hold part of a frame cannot carry another.
func (c *Conn) failWrite(err error) error {
	c.werr = err
	c.Close()
	return err
}

// ReadFrame returns the next caller frame: its type (0x01..0x7f) and its
// FrameLen-byte body, which stays valid until the next ReadFrame. Padding
// frames and rekey notices are consumed on the way. A frame that fails
// authentication, carries a reserved type (0x80..0xfe) or a non-zero
// link-internal body yields an error wrapping ErrFrame; that and any error
// from the stream are fatal: the link is closed and every later call returns
// the same error.
func (c *Conn) ReadFrame() (typ byte, body []byte, err error) {
	if c.rerr != nil {
		return 0, nil, c.rerr
	}
	for {
		typ, body, err = c.open()
		if err == nil {
			switch {
			case typ >= TypeMinCaller && typ <= TypeMaxCaller:
				return typ, body, nil
			case typ == TypePadding && allZero(body):
				c.stats.paddingDrop.Add(1)
				continue
			case typ == typeRekey && allZero(body):
				c.recv.Rekey()
				c.stats.rekeysReceived.Add(1)
				continue
			case typ == TypePadding || typ == typeRekey:
				err = fmt.Errorf("%w: type %#02x with a non-zero body", ErrFrame, typ)
			default:
				err = fmt.Errorf("%w: reserved type %#02x", ErrFrame, typ)
			}
		}
		c.rerr = err
		c.Close()
		return 0, nil, err
	}
}

// open reads and decrypts one wire frame in place.
func (c *Conn) open() (byte, []byte, error) {
	if _, err := io.ReadFull(c.br, c.rbuf); err != nil {
		if err == io.EOF {
			return 0, nil, fmt.Errorf("link: peer closed the link: %w", err)
		}
		return 0, nil, fmt.Errorf("link: reading frame: %w", err)
	}
	plain, err := c.recv.Decrypt(c.rbuf[:0], nil, c.rbuf)
	if err != nil {
		if errors.Is(err, noise.ErrMaxNonce) {
			return 0, nil, fmt.Errorf("link: opening frame: %w", err)
		}
		return 0, nil, fmt.Errorf("%w: authentication failed", ErrFrame)
	}
	c.stats.framesReceived.Add(1)
	return plain[0], plain[typeLen:], nil
}
