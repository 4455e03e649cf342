package onion

import (
	"crypto/hmac"
	"crypto/rand"
	"fmt"
	"io"
	"time"

	"loam/onion/internal/lioness"
)

// NewPacket wraps payload for path, ending in delivery to recipient at the
// last hop, and returns a packet of g.PacketLen() bytes to send to
// path[0].Node. payload may be at most g.UserPayload bytes; a shorter payload
// is zero-padded, so callers that need its length must encode it themselves.
func (g Geometry) NewPacket(path []Hop, recipient Recipient, payload []byte) ([]byte, error) {
	return g.newPacket(rand.Reader, path, recipient, payload)
}

func (g Geometry) newPacket(rng io.Reader, path []Hop, recipient Recipient, payload []byte) ([]byte, error) {
	g.mustValid()
	if len(payload) > g.UserPayload {
		return nil, fmt.Errorf("onion: payload of %d bytes exceeds %d", len(payload), g.UserPayload)
	}
	pkt := make([]byte, g.PacketLen())
	var final [SlotLen]byte
	putDeliver(final[:], recipient)
	keys, err := g.buildHeader(rng, path, final[:], pkt)
	if err != nil {
		return nil, err
	}
	defer wipeAll(keys)

	body := g.payload(pkt)
	copy(body[ZeroPrefixLen:], payload)
	for i := len(keys) - 1; i >= 0; i-- {
		lioness.Encrypt(&keys[i].sprp, body)
	}
	return pkt, nil
}

// Unwrapped is what a hop learns from Unwrap.
type Unwrapped struct {
	Command Command
	// Relay: where to send Packet and how long to hold it first.
	Next  NodeID
	Delay time.Duration
	// Deliver and SURBReply: who receives the payload.
	Recipient Recipient
	// SURBReply: the reply block's id, for its maker.
	SURBID SURBID
	// ReplayTag is the same every time this packet reaches this key. The
	// caller keeps the replay filter.
	ReplayTag ReplayTag
	// Packet is the packet for Next (Relay only). It aliases the input.
	Packet []byte
	// Payload is, for Deliver, the user payload (g.UserPayload bytes); for
	// SURBReply, the sealed reply of g.PayloadLen() bytes that only the
	// SURB's maker can open with OpenReply. It aliases the input.
	Payload []byte
}

// KeyPhase returns the key-phase bit of a packet: which of its two live onion
// keys the receiving node must pass to Unwrap (SPEC.md §2.2).
func KeyPhase(packet []byte) uint8 {
	if len(packet) < KeyLen {
		return 0
	}
	return packet[phaseBitByte] >> 7
}

// Unwrap removes one layer of packet with the node's onion key. It works in
// place: on success the returned slices alias packet; on error packet's
// contents are unspecified and must be dropped. Errors are ErrMalformed for a
// packet of the wrong length or an unknown command, and ErrAuthentication for
// every failed check.
func (g Geometry) Unwrap(key *PrivateKey, packet []byte) (Unwrapped, error) {
	g.mustValid()
	if len(packet) != g.PacketLen() {
		return Unwrapped{}, ErrMalformed
	}
	alpha, beta, gamma := g.alpha(packet), g.beta(packet), g.gamma(packet)

	shared, err := sharedSecret(key.k, alpha)
	if err != nil {
		return Unwrapped{}, err
	}
	var k hopKeys
	defer k.wipe()
	var stream [MaxHops*SlotLen + SlotLen]byte
	ks := stream[:len(beta)+SlotLen]
	defer clear(ks)
	deriveHopKeys(shared, alpha, &key.pub, &k, ks)
	clear(shared)

	mac := headerMAC(&k.mac, alpha, beta)
	if !hmac.Equal(mac[:], gamma) {
		return Unwrapped{}, ErrAuthentication
	}

	// Decrypt β ‖ 0^SlotLen: the first slot is ours, the rest is the next
	// hop's β, refilled at the end with keystream so its length stays fixed.
	var slot [SlotLen]byte
	copy(slot[:], beta)
	xorInto(slot[:], ks)

	u := Unwrapped{ReplayTag: k.replay}
	if err := parseSlot(slot[:], &u); err != nil {
		clear(packet)
		return Unwrapped{}, err
	}

	body := g.payload(packet)
	lioness.Decrypt(&k.sprp, body)
	switch u.Command {
	case Relay:
		copy(beta, beta[SlotLen:])
		copy(beta[len(beta)-SlotLen:], ks[len(beta):])
		xorInto(beta[:len(beta)-SlotLen], ks[SlotLen:])
		copy(alpha, slot[slotNextAlpha:slotNextGamma])
		copy(gamma, slot[slotNextGamma:])
		u.Packet = packet
	case Deliver:
		if !allZero(body[:ZeroPrefixLen]) {
			clear(packet)
			return Unwrapped{}, ErrAuthentication
		}
		u.Payload = body[ZeroPrefixLen:]
	case SURBReply:
		u.Payload = body
	}
	return u, nil
}

func wipeAll(keys []hopKeys) {
	for i := range keys {
		keys[i].wipe()
	}
}
