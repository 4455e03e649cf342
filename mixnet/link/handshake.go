package link

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/flynn/noise"
)

// cipherSuite and the XK pattern make the protocol name
// Noise_XK_25519_ChaChaPoly_BLAKE2b.
var cipherSuite = noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashBLAKE2b)

// Client runs the initiator's side of the handshake on raw, expecting the
// responder to hold the static key responder (from the directory), and
// returns the established link. Client owns raw from the call on: it is
// closed on any error, and by Conn.Close otherwise.
//
// Noise XK sends nothing back to the initiator after the third message, so an
// initiator whose key the responder refuses (Config.Authorize) cannot be told
// so: Client succeeds, and the first ReadFrame fails when the responder
// closes the stream (EOF or a reset). Frames written meanwhile are lost.
func Client(ctx context.Context, raw net.Conn, cfg *Config, responder PublicKey) (*Conn, error) {
	s, err := cfg.settings()
	if err != nil {
		raw.Close()
		return nil, err
	}
	defer s.wipe()
	h, err := newHandshake(s, raw, true, responder[:])
	if err != nil {
		raw.Close()
		return nil, err
	}
	defer h.wipe()
	g := startGuard(ctx, raw, s.clock, s.timeout)
	send, recv, err := h.initiate()
	if why := g.stop(); why != nil {
		err = fmt.Errorf("%w: %w", ErrHandshake, why)
	}
	if err != nil {
		raw.Close()
		return nil, err
	}
	return newConn(raw, h.br, s, responder, send, recv), nil
}

// Server runs the responder's side of the handshake on raw and returns the
// established link; Conn.Peer is the initiator's static key. Server owns raw
// from the call on: it is closed on any error, and by Conn.Close otherwise.
// If Config.Authorize refuses the initiator, raw is closed without another
// byte sent and the error wraps ErrUnauthorized.
func Server(ctx context.Context, raw net.Conn, cfg *Config) (*Conn, error) {
	s, err := cfg.settings()
	if err != nil {
		raw.Close()
		return nil, err
	}
	defer s.wipe()
	h, err := newHandshake(s, raw, false, nil)
	if err != nil {
		raw.Close()
		return nil, err
	}
	defer h.wipe()
	g := startGuard(ctx, raw, s.clock, s.timeout)
	peer, send, recv, err := h.respond()
	if err == nil && s.authorize != nil {
		if aerr := s.authorize(peer); aerr != nil {
			err = fmt.Errorf("%w: %v: %w", ErrUnauthorized, peer, aerr)
		}
	}
	if why := g.stop(); why != nil && !errors.Is(err, ErrUnauthorized) {
		err = fmt.Errorf("%w: %w", ErrHandshake, why)
	}
	if err != nil {
		raw.Close()
		return nil, err
	}
	return newConn(raw, h.br, s, peer, send, recv), nil
}

// handshake is one side of a Noise XK handshake in which every message is
// padded to exactly one wire frame.
type handshake struct {
	s      *settings
	raw    net.Conn
	br     *bufio.Reader // kept by the Conn: it may hold frames read ahead
	hs     *noise.HandshakeState
	static noise.DHKey // our copy of the static key, wiped afterwards
	msg    []byte      // one wire frame
	pad    []byte      // zeros to pad payloads with
}

func newHandshake(s *settings, raw net.Conn, initiator bool, peerStatic []byte) (*handshake, error) {
	h := &handshake{
		s:   s,
		raw: raw,
		br:  bufio.NewReaderSize(raw, ioBufferLen(s.wireLen)),
		static: noise.DHKey{
			Private: append([]byte(nil), s.static.Private[:]...),
			Public:  append([]byte(nil), s.static.Public[:]...),
		},
		msg: make([]byte, 0, s.wireLen),
		pad: make([]byte, s.wireLen-msg1Fixed),
	}
	hs, err := noise.NewHandshakeState(noise.Config{
		CipherSuite:   cipherSuite,
		Pattern:       noise.HandshakeXK,
		Initiator:     initiator,
		Prologue:      s.prologue,
		StaticKeypair: h.static,
		PeerStatic:    peerStatic,
		Random:        s.random, // nil: crypto/rand
	})
	if err != nil {
		h.wipe()
		return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	h.hs = hs
	return h, nil
}

// initiate sends message 1, reads message 2 and sends message 3.
func (h *handshake) initiate() (send, recv *noise.CipherState, err error) {
	if _, _, err = h.write(1, msg1Fixed); err != nil {
		return nil, nil, err
	}
	if _, _, err = h.read(2, msg2Fixed); err != nil {
		return nil, nil, err
	}
	// Split's first CipherState encrypts from initiator to responder.
	return h.write(3, msg3Fixed)
}

// respond reads message 1, sends message 2 and reads message 3, which
// carries the initiator's static key.
func (h *handshake) respond() (peer PublicKey, send, recv *noise.CipherState, err error) {
	if _, _, err = h.read(1, msg1Fixed); err != nil {
		return peer, nil, nil, err
	}
	if _, _, err = h.write(2, msg2Fixed); err != nil {
		return peer, nil, nil, err
	}
	i2r, r2i, err := h.read(3, msg3Fixed)
	if err != nil {
		return peer, nil, nil, err
	}
	rs := h.hs.PeerStatic()
	if len(rs) != KeyLen {
		return peer, nil, nil, fmt.Errorf("%w: peer static key of %d bytes", ErrHandshake, len(rs))
	}
	copy(peer[:], rs)
	return peer, r2i, i2r, nil
}

// write sends handshake message n, whose payload is the zero padding that
// makes the whole message one wire frame.
func (h *handshake) write(n, fixed int) (cs1, cs2 *noise.CipherState, err error) {
	msg, cs1, cs2, err := h.hs.WriteMessage(h.msg[:0], h.pad[:h.s.wireLen-fixed])
	if err != nil {
		return nil, nil, fmt.Errorf("%w: making message %d: %w", ErrHandshake, n, err)
	}
	if len(msg) != h.s.wireLen {
		return nil, nil, fmt.Errorf("%w: message %d is %d bytes, want %d", ErrHandshake, n, len(msg), h.s.wireLen)
	}
	if _, err := h.raw.Write(msg); err != nil {
		return nil, nil, fmt.Errorf("%w: sending message %d: %w", ErrHandshake, n, err)
	}
	return cs1, cs2, nil
}

// read reads handshake message n, exactly one wire frame, and checks that
// its authenticated payload is all zero padding.
func (h *handshake) read(n, fixed int) (cs1, cs2 *noise.CipherState, err error) {
	msg := h.msg[:h.s.wireLen]
	if _, err := io.ReadFull(h.br, msg); err != nil {
		return nil, nil, fmt.Errorf("%w: reading message %d: %w", ErrHandshake, n, err)
	}
	payload, cs1, cs2, err := h.hs.ReadMessage(nil, msg)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: message %d: %w", ErrHandshake, n, err)
	}
	if len(payload) != h.s.wireLen-fixed || !allZero(payload) {
		return nil, nil, fmt.Errorf("%w: message %d: padding is not %d zero bytes", ErrHandshake, n, h.s.wireLen-fixed)
	}
	return cs1, cs2, nil
}

// wipe clears the copies of private keys the handshake made.
func (h *handshake) wipe() {
	clear(h.static.Private)
	if h.hs != nil {
		clear(h.hs.LocalEphemeral().Private)
	}
}

func allZero(b []byte) bool {
	var acc byte
	for _, x := range b {
		acc |= x
	}
	return acc == 0
}

// ioBufferLen is the size of a link's read and write buffers: whole wire
// frames, at least one.
func ioBufferLen(wireLen int) int {
	return max(1, ioBufferTarget/wireLen) * wireLen
}

// pastDeadline is a deadline that has always passed: setting it makes any
// blocked Read or Write on a net.Conn return at once.
var pastDeadline = time.Unix(1, 0)
