package link

import "time"

// Constants fixed by the link protocol (SPEC, links). Changing any of them
// changes the wire format; tunables are below and in Config.
const (
	// protocolLabel opens every handshake's prologue, followed by a zero
	// byte and the caller's prologue.
	protocolLabel = "loam link v1"

	// KeyLen is the length of an X25519 static or ephemeral key.
	KeyLen = 32
	// TagLen is the length of a ChaCha20-Poly1305 tag.
	TagLen = 16
	// typeLen is the frame type byte that opens every frame's plaintext.
	typeLen = 1
	// FrameOverhead is what a wire frame adds to FrameLen body bytes: the
	// type byte and the AEAD tag.
	FrameOverhead = typeLen + TagLen

	// Handshake message layouts (Noise XK), fixed parts before the padded
	// payload's ciphertext:
	//   msg1 -> e, es:  e (32)                 ‖ AEAD(payload) (pad1 + 16)
	//   msg2 <- e, ee:  e (32)                 ‖ AEAD(payload) (pad2 + 16)
	//   msg3 -> s, se:  AEAD(s) (32 + 16)      ‖ AEAD(payload) (pad3 + 16)
	msg1Fixed = KeyLen + TagLen
	msg2Fixed = KeyLen + TagLen
	msg3Fixed = KeyLen + TagLen + TagLen

	// MinFrameLen and MaxFrameLen bound Config.FrameLen. The lower bound
	// leaves room for the third handshake message's fixed part; the upper one
	// keeps every Noise message within Noise's 65535-byte limit.
	MinFrameLen = 64
	MaxFrameLen = 65535 - FrameOverhead
)

// Frame types: the first plaintext byte of a transport frame.
const (
	// TypePadding is a padding or keepalive frame; its body is all zero and
	// ReadFrame drops it.
	TypePadding byte = 0x00
	// TypeMinCaller and TypeMaxCaller bound the types that belong to the
	// caller; ReadFrame hands such frames over.
	TypeMinCaller byte = 0x01
	TypeMaxCaller byte = 0x7f
	// typeRekey announces that every later frame in this direction is sealed
	// under the next key (Noise Rekey). Its body is all zero.
	typeRekey byte = 0xff
	// Types 0x80..0xfe are reserved; receiving one is fatal.
)

// Tunables: defaults for Config fields and local buffering. None of them
// changes the wire format.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultRekeyFrames      = 1 << 20
	DefaultRekeyInterval    = 2 * time.Minute

	// ioBufferTarget is about how many bytes the write buffer and the read
	// buffer hold; each is rounded down to whole wire frames (at least one)
	// so that a partial frame never reaches the socket. 16 KiB (6 default
	// frames) keeps a gateway's thousands of links at 32 KiB each while one
	// link still moves over 200,000 frames/s on loopback; 64 KiB buys only
	// about 25 % more.
	ioBufferTarget = 64 << 10 // 26 default frames; 64 KiB measured 25 % faster than 16 KiB
)
