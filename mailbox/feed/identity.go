package feed

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Identity is a person's key pairs: an Ed25519 key that signs their posts
// and an X25519 key that agrees pairwise secrets with friends. It lives
// only in its owner's store.
type Identity struct {
	signSeed [keyLen]byte
	dhPriv   [keyLen]byte
	sign     ed25519.PrivateKey
	dh       *ecdh.PrivateKey
	pub      Public
}

// Public is what a friend code carries: the public halves of an identity
// and the display name its owner chose.
type Public struct {
	Sign [32]byte // Ed25519 public key
	DH   [32]byte // X25519 public key
	Name string
}

// SignKey returns the Ed25519 public key.
func (p Public) SignKey() ed25519.PublicKey { return ed25519.PublicKey(bytes.Clone(p.Sign[:])) }

// SameKeys reports whether p and o are the same person (the names may
// differ).
func (p Public) SameKeys(o Public) bool { return p.Sign == o.Sign && p.DH == o.DH }

// Fingerprint is a short hex prefix of the signing key, for logs and lists.
func (p Public) Fingerprint() string { return hex.EncodeToString(p.Sign[:6]) }

func (p Public) String() string { return fmt.Sprintf("%s (%s)", p.Name, p.Fingerprint()) }

// NewIdentity makes fresh key pairs for a person called name.
func NewIdentity(name string) (*Identity, error) {
	var signSeed, dhPriv [keyLen]byte
	defer clear(signSeed[:])
	defer clear(dhPriv[:])
	if _, err := rand.Read(signSeed[:]); err != nil {
		return nil, err
	}
	if _, err := rand.Read(dhPriv[:]); err != nil {
		return nil, err
	}
	return identityFromKeys(&signSeed, &dhPriv, name)
}

// identityFromKeys builds an identity from its private keys (copied).
func identityFromKeys(signSeed, dhPriv *[keyLen]byte, name string) (*Identity, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	dh, err := ecdh.X25519().NewPrivateKey(dhPriv[:])
	if err != nil {
		return nil, fmt.Errorf("feed: identity: %w", err)
	}
	id := &Identity{signSeed: *signSeed, dhPriv: *dhPriv, sign: ed25519.NewKeyFromSeed(signSeed[:]), dh: dh}
	copy(id.pub.Sign[:], id.sign.Public().(ed25519.PublicKey))
	copy(id.pub.DH[:], dh.PublicKey().Bytes())
	id.pub.Name = name
	return id, nil
}

// Public returns the identity's public keys and name.
func (id *Identity) Public() Public { return id.pub }

// Name is the identity's display name.
func (id *Identity) Name() string { return id.pub.Name }

// FriendCode is the identity's friend code, to give to friends.
func (id *Identity) FriendCode() string { return id.pub.FriendCode() }

// signEntry signs an encoded entry (SPEC.md §9.6).
func (id *Identity) signEntry(entry []byte) []byte {
	return ed25519.Sign(id.sign, entrySigInput(entry))
}

// validName checks a display name: 1 to MaxNameLen bytes of UTF-8 with no
// control characters and no surrounding spaces.
func validName(name string) error {
	if len(name) == 0 || len(name) > MaxNameLen {
		return fmt.Errorf("%w: a name is 1 to %d bytes, not %d", ErrInvalid, MaxNameLen, len(name))
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: the name is not UTF-8", ErrInvalid)
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return fmt.Errorf("%w: the name holds a control character", ErrInvalid)
		}
	}
	if name[0] == ' ' || name[len(name)-1] == ' ' {
		return fmt.Errorf("%w: the name starts or ends with a space", ErrInvalid)
	}
	return nil
}
