package onion

import (
	"crypto/rand"
	"fmt"
	"io"

	"loam/onion/internal/lioness"
)

// SURBKeys is what the maker of a SURB keeps to open the reply: the SURB's
// id, the payload key of every hop on its path and the seed of the key the
// replier seals with. Keep it secret; use it once.
type SURBKeys struct {
	ID   SURBID
	seed [surbKeySeedLen]byte
	hops []lioness.Key
}

// Wipe zeroes the keys; call it once the reply is opened or abandoned.
func (k *SURBKeys) Wipe() {
	clear(k.seed[:])
	for i := range k.hops {
		clear(k.hops[i][:])
	}
	k.hops = nil
}

// NewSURB makes a single-use reply block for path, whose last hop is the
// maker's gateway; the reply is handed there to the client queue recipient.
// The SURB (g.SURBLen() bytes) travels to the replier inside a payload; keys
// stay with the maker.
func (g Geometry) NewSURB(path []Hop, recipient Recipient) (surb []byte, keys *SURBKeys, err error) {
	return g.newSURB(rand.Reader, path, recipient)
}

func (g Geometry) newSURB(rng io.Reader, path []Hop, recipient Recipient) ([]byte, *SURBKeys, error) {
	g.mustValid()
	keys := &SURBKeys{}
	if _, err := io.ReadFull(rng, keys.ID[:]); err != nil {
		return nil, nil, fmt.Errorf("onion: reading randomness: %w", err)
	}
	var final [SlotLen]byte
	putSURBReply(final[:], recipient, keys.ID)

	surb := make([]byte, g.SURBLen())
	hk, err := g.buildHeader(rng, path, final[:], surb[NodeIDLen:])
	if err != nil {
		return nil, nil, err
	}
	defer wipeAll(hk)
	if _, err := io.ReadFull(rng, keys.seed[:]); err != nil {
		return nil, nil, fmt.Errorf("onion: reading randomness: %w", err)
	}
	copy(surb, path[0].Node[:])
	copy(surb[NodeIDLen+g.HeaderLen():], keys.seed[:])
	keys.hops = make([]lioness.Key, len(hk))
	for i := range hk {
		keys.hops[i] = hk[i].sprp
	}
	return surb, keys, nil
}

// NewReply seals body (at most g.UserPayload bytes, zero-padded) into the
// reply block surb and returns the packet and the node to send it to.
func (g Geometry) NewReply(surb []byte, body []byte) (first NodeID, packet []byte, err error) {
	g.mustValid()
	if len(surb) != g.SURBLen() {
		return NodeID{}, nil, fmt.Errorf("%w: SURB of %d bytes, want %d", ErrMalformed, len(surb), g.SURBLen())
	}
	if len(body) > g.UserPayload {
		return NodeID{}, nil, fmt.Errorf("onion: reply of %d bytes exceeds %d", len(body), g.UserPayload)
	}
	copy(first[:], surb)
	packet = make([]byte, g.PacketLen())
	copy(packet, surb[NodeIDLen:NodeIDLen+g.HeaderLen()])

	var k lioness.Key
	defer clear(k[:])
	deriveSURBKey(surb[NodeIDLen+g.HeaderLen():], &k)
	p := g.payload(packet)
	copy(p[ZeroPrefixLen:], body)
	lioness.Encrypt(&k, p)
	return first, packet, nil
}

// OpenReply opens a sealed reply (Unwrapped.Payload of a SURBReply, as the
// gateway hands it over) with the keys of the SURB it answers, and returns
// the replier's g.UserPayload bytes. A reply altered anywhere on its way
// fails with ErrAuthentication.
func (g Geometry) OpenReply(keys *SURBKeys, sealed []byte) ([]byte, error) {
	g.mustValid()
	if len(sealed) != g.PayloadLen() {
		return nil, fmt.Errorf("%w: sealed reply of %d bytes, want %d", ErrMalformed, len(sealed), g.PayloadLen())
	}
	if len(keys.hops) == 0 {
		return nil, fmt.Errorf("%w: SURB keys are empty or wiped", ErrMalformed)
	}
	p := append([]byte(nil), sealed...)
	// Each hop decrypted its layer; encrypting in reverse hop order undoes
	// them, leaving the replier's sealing, which the seed's key removes.
	for i := len(keys.hops) - 1; i >= 0; i-- {
		lioness.Encrypt(&keys.hops[i], p)
	}
	var k lioness.Key
	defer clear(k[:])
	deriveSURBKey(keys.seed[:], &k)
	lioness.Decrypt(&k, p)
	if !allZero(p[:ZeroPrefixLen]) {
		clear(p)
		return nil, ErrAuthentication
	}
	return p[ZeroPrefixLen:], nil
}

// surbKeysVersion opens the stored form of SURBKeys.
const surbKeysVersion = 1

// MarshalBinary encodes the keys for storage (SPEC.md §2.7): version ‖ id ‖
// seed ‖ hop count ‖ hop payload keys.
func (k *SURBKeys) MarshalBinary() ([]byte, error) {
	return k.AppendBinary(nil)
}

// AppendBinary appends the encoding of MarshalBinary to b.
func (k *SURBKeys) AppendBinary(b []byte) ([]byte, error) {
	if len(k.hops) == 0 || len(k.hops) > MaxHops {
		return nil, fmt.Errorf("onion: SURB keys with %d hops cannot be stored", len(k.hops))
	}
	b = append(b, surbKeysVersion)
	b = append(b, k.ID[:]...)
	b = append(b, k.seed[:]...)
	b = append(b, byte(len(k.hops)))
	for i := range k.hops {
		b = append(b, k.hops[i][:]...)
	}
	return b, nil
}

// UnmarshalBinary decodes keys stored by MarshalBinary.
func (k *SURBKeys) UnmarshalBinary(b []byte) error {
	const fixed = 1 + NodeIDLen + surbKeySeedLen + 1
	if len(b) < fixed || b[0] != surbKeysVersion {
		return fmt.Errorf("%w: SURB keys: bad header", ErrMalformed)
	}
	n := int(b[fixed-1])
	if n < 1 || n > MaxHops || len(b) != fixed+n*lioness.KeySize {
		return fmt.Errorf("%w: SURB keys: %d hops in %d bytes", ErrMalformed, n, len(b))
	}
	copy(k.ID[:], b[1:])
	copy(k.seed[:], b[1+NodeIDLen:])
	k.hops = make([]lioness.Key, n)
	for i := range k.hops {
		copy(k.hops[i][:], b[fixed+i*lioness.KeySize:])
	}
	return nil
}
