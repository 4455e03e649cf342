package link

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// PublicKey is a Noise static X25519 public key.
type PublicKey [KeyLen]byte

func (k PublicKey) String() string { return hex.EncodeToString(k[:]) }

// KeyPair is a Noise static X25519 key pair.
type KeyPair struct {
	Private [KeyLen]byte
	Public  PublicKey
}

// GenerateKeyPair returns a new static key pair from crypto/rand.
func GenerateKeyPair() (KeyPair, error) {
	var priv [KeyLen]byte
	defer clear(priv[:])
	if _, err := rand.Read(priv[:]); err != nil {
		return KeyPair{}, fmt.Errorf("link: reading randomness: %w", err)
	}
	return KeyPairFromPrivate(priv)
}

// KeyPairFromPrivate returns the key pair whose X25519 scalar is priv.
func KeyPairFromPrivate(priv [KeyLen]byte) (KeyPair, error) {
	k, err := ecdh.X25519().NewPrivateKey(priv[:])
	if err != nil {
		return KeyPair{}, fmt.Errorf("link: %w", err)
	}
	kp := KeyPair{Private: priv}
	copy(kp.Public[:], k.PublicKey().Bytes())
	return kp, nil
}
