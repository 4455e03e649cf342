package feed

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"time"

	"loam/mailbox"
)

// pairSecret is the secret two friends share (SPEC.md §9.4): X25519 of
// their key agreement keys, fed to HKDF with both parties' public keys in
// a canonical order, so both sides get the same secret and it is bound to
// exactly these two key pairs.
func pairSecret(me *Identity, them Public) ([keyLen]byte, error) {
	var out [keyLen]byte
	if me.pub.Sign == them.Sign || me.pub.DH == them.DH {
		return out, ErrSelf
	}
	pub, err := ecdh.X25519().NewPublicKey(them.DH[:])
	if err != nil {
		return out, fmt.Errorf("feed: friend's key: %w", err)
	}
	shared, err := me.dh.ECDH(pub)
	if err != nil {
		return out, fmt.Errorf("feed: key agreement with %s: %w", them.Fingerprint(), err)
	}
	defer clear(shared)
	// crypto/ecdh rejects an all-zero result already; the check stays so
	// that the rule in the specification does not rest on a library.
	var zero [keyLen]byte
	if subtle.ConstantTimeCompare(shared, zero[:]) == 1 {
		return out, fmt.Errorf("feed: key agreement with %s gave zero", them.Fingerprint())
	}
	okm, err := hkdf.Key(sha256.New, shared, nil, pairInfo(me.pub, them), keyLen)
	if err != nil {
		return out, fmt.Errorf("feed: %w", err)
	}
	copy(out[:], okm)
	clear(okm)
	return out, nil
}

// pairInfo is the HKDF info of a pair: the label, then the party whose
// Sign ‖ DH is smaller as bytes, then the other.
func pairInfo(a, b Public) string {
	ka := append(bytes.Clone(a.Sign[:]), a.DH[:]...)
	kb := append(bytes.Clone(b.Sign[:]), b.DH[:]...)
	if bytes.Compare(ka, kb) > 0 {
		ka, kb = kb, ka
	}
	info := make([]byte, 0, len(labelPair)+4*keyLen)
	info = append(info, labelPair...)
	info = append(info, ka...)
	info = append(info, kb...)
	return string(info)
}

// Epoch is a mailbox epoch number: whole periods since the Unix epoch.
type Epoch uint64

// EpochAt is the mailbox epoch that holds t under period.
func EpochAt(t time.Time, period time.Duration) Epoch {
	s := t.Unix()
	p := int64(period / time.Second)
	if s < 0 || p <= 0 {
		return 0
	}
	return Epoch(s / p)
}

// pairMailbox is the mailbox of direction from → to in epoch e (SPEC.md
// §9.5): its capability seed and its box key are HKDF outputs of the pair
// secret under distinct labels, both bound to the direction and the epoch.
func pairMailbox(pair *[keyLen]byte, from, to [keyLen]byte, e Epoch) *mailbox.Box {
	seed := deriveMailbox(pair, labelMailboxCap, from, to, e)
	defer clear(seed[:])
	box := &mailbox.Box{Cap: mailbox.NewCapability(seed), Key: deriveMailbox(pair, labelMailboxKey, from, to, e)}
	return box
}

func deriveMailbox(pair *[keyLen]byte, label string, from, to [keyLen]byte, e Epoch) [keyLen]byte {
	info := make([]byte, 0, len(label)+2*keyLen+8)
	info = append(info, label...)
	info = append(info, from[:]...)
	info = append(info, to[:]...)
	info = binary.BigEndian.AppendUint64(info, uint64(e))
	okm, err := hkdf.Key(sha256.New, pair[:], nil, string(info), keyLen)
	if err != nil {
		panic("feed: hkdf: " + err.Error()) // 32 bytes of SHA-256 HKDF cannot fail
	}
	var out [keyLen]byte
	copy(out[:], okm)
	clear(okm)
	return out
}
