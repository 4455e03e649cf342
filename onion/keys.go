package onion

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// PublicKey is an X25519 onion public key.
type PublicKey [KeyLen]byte

// NodeID names a node in routing commands.
type NodeID [NodeIDLen]byte

// Recipient names the receiver of a Deliver or SURBReply command: a service
// at a service node, or a client's queue at its gateway.
type Recipient [NodeIDLen]byte

// SURBID identifies a reply block to its maker.
type SURBID [NodeIDLen]byte

// ReplayTag is derived from a hop's shared secret: the same packet presented
// twice to the same key yields the same tag, and nothing else does.
type ReplayTag [ReplayTagLen]byte

func (id NodeID) String() string   { return hex.EncodeToString(id[:]) }
func (r Recipient) String() string { return hex.EncodeToString(r[:]) }
func (id SURBID) String() string   { return hex.EncodeToString(id[:]) }
func (k PublicKey) String() string { return hex.EncodeToString(k[:]) }
func (t ReplayTag) String() string { return hex.EncodeToString(t[:]) }

// PrivateKey is an X25519 onion private key held by a node.
type PrivateKey struct {
	k   *ecdh.PrivateKey
	pub PublicKey
}

// GenerateKey returns a new onion key from crypto/rand.
func GenerateKey() (*PrivateKey, error) {
	var seed [KeyLen]byte
	defer clear(seed[:])
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("onion: reading randomness: %w", err)
	}
	return NewPrivateKey(seed)
}

// NewPrivateKey returns the onion key whose X25519 scalar is seed.
func NewPrivateKey(seed [KeyLen]byte) (*PrivateKey, error) {
	k, err := ecdh.X25519().NewPrivateKey(seed[:])
	if err != nil {
		return nil, fmt.Errorf("onion: %w", err)
	}
	p := &PrivateKey{k: k}
	copy(p.pub[:], k.PublicKey().Bytes())
	return p, nil
}

// Public returns the key's public half.
func (p *PrivateKey) Public() PublicKey { return p.pub }

// Bytes returns the X25519 scalar, for storing the key.
func (p *PrivateKey) Bytes() [KeyLen]byte {
	var b [KeyLen]byte
	copy(b[:], p.k.Bytes())
	return b
}
