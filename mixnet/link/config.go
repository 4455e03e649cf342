package link

import (
	"fmt"
	"io"
	"time"

	"loam/internal/clock"
)

// Config holds one side's settings for links. A Config may be shared by many
// concurrent handshakes; Client and Server never modify it.
type Config struct {
	// FrameLen is the number of body bytes in every frame: the onion packet
	// length of the network (2457 for the default geometry). Required; both
	// sides must agree or the handshake fails.
	FrameLen int
	// Static is this side's static Noise key pair.
	Static KeyPair
	// Prologue is the caller's context (network id, geometry); both sides
	// must agree or the handshake fails. The link prefixes its own label.
	Prologue []byte
	// HandshakeTimeout bounds the whole handshake, Authorize included.
	// Zero means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// RekeyFrames: the sending direction is rekeyed after this many frames.
	// Zero means DefaultRekeyFrames.
	RekeyFrames uint64
	// RekeyInterval: the sending direction is rekeyed when this much time
	// (on Clock) has passed since the last rekey, at the next frame written.
	// Zero means DefaultRekeyInterval.
	RekeyInterval time.Duration
	// Clock measures the handshake timeout and the rekey interval. Nil means
	// clock.Real().
	Clock clock.Clock
	// Authorize, for a responder, is called with the initiator's static key
	// after the last handshake message; a non-nil error refuses the link.
	// Nil accepts every initiator. Initiators ignore it.
	Authorize func(peer PublicKey) error

	// random, for test vectors only, replaces crypto/rand as the source of
	// the handshake's ephemeral key.
	random io.Reader
}

// WireFrameLen is the length W of every unit a link writes to its byte
// stream: a transport frame (type, body, tag) and each handshake message alike.
func (c *Config) WireFrameLen() int { return c.FrameLen + FrameOverhead }

// settings is a validated Config with defaults filled in, private to one link.
type settings struct {
	frameLen      int
	wireLen       int
	static        KeyPair
	prologue      []byte
	timeout       time.Duration
	rekeyFrames   uint64
	rekeyInterval time.Duration
	clock         clock.Clock
	authorize     func(PublicKey) error
	random        io.Reader
}

func (c *Config) settings() (*settings, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: nil Config", ErrConfig)
	}
	if c.FrameLen < MinFrameLen || c.FrameLen > MaxFrameLen {
		return nil, fmt.Errorf("%w: FrameLen %d outside [%d, %d]", ErrConfig, c.FrameLen, MinFrameLen, MaxFrameLen)
	}
	if c.HandshakeTimeout < 0 || c.RekeyInterval < 0 {
		return nil, fmt.Errorf("%w: negative duration", ErrConfig)
	}
	s := &settings{
		frameLen:      c.FrameLen,
		wireLen:       c.WireFrameLen(),
		static:        c.Static,
		prologue:      prologue(c.Prologue),
		timeout:       c.HandshakeTimeout,
		rekeyFrames:   c.RekeyFrames,
		rekeyInterval: c.RekeyInterval,
		clock:         c.Clock,
		authorize:     c.Authorize,
		random:        c.random,
	}
	if s.timeout == 0 {
		s.timeout = DefaultHandshakeTimeout
	}
	if s.rekeyFrames == 0 {
		s.rekeyFrames = DefaultRekeyFrames
	}
	if s.rekeyInterval == 0 {
		s.rekeyInterval = DefaultRekeyInterval
	}
	if s.clock == nil {
		s.clock = clock.Real()
	}
	return s, nil
}

// wipe clears the settings' copy of the static private key.
func (s *settings) wipe() { clear(s.static.Private[:]) }

// prologue is "loam link v1" ‖ 0x00 ‖ caller. The zero byte ends the label,
// so no caller prologue can make another version's label.
func prologue(caller []byte) []byte {
	p := make([]byte, 0, len(protocolLabel)+1+len(caller))
	p = append(p, protocolLabel...)
	p = append(p, 0)
	return append(p, caller...)
}
