package onion

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"

	"loam/onion/internal/lioness"
)

// hopKeys is everything one hop's shared secret yields (SPEC.md §2.3) but
// the β keystream, which the same derivation writes to a caller's buffer.
type hopKeys struct {
	mac    [macKeyLen]byte // HMAC-SHA-256 key for γ
	sprp   lioness.Key     // payload layer
	replay ReplayTag
}

func (k *hopKeys) wipe() {
	clear(k.mac[:])
	clear(k.sprp[:])
	clear(k.replay[:])
}

var zeroSecret [KeyLen]byte

// sharedSecret is the one variable-base X25519 multiplication of a hop. alpha
// may carry the key-phase bit; X25519 ignores the top bit (RFC 7748 §5).
func sharedSecret(priv *ecdh.PrivateKey, alpha []byte) ([]byte, error) {
	pub, err := ecdh.X25519().NewPublicKey(alpha)
	if err != nil {
		return nil, ErrMalformed
	}
	s, err := priv.ECDH(pub)
	if err != nil {
		return nil, ErrAuthentication
	}
	// crypto/ecdh rejects an all-zero result already; the check stays so
	// that the rule in SPEC.md does not rest on a library's choice.
	if subtle.ConstantTimeCompare(s, zeroSecret[:]) == 1 {
		clear(s)
		return nil, ErrAuthentication
	}
	return s, nil
}

// deriveHopKeys turns a shared secret into a hop's keys and fills stream
// with the hop's β keystream. The secret is bound to the ephemeral key alpha
// (as sent, phase bit included) and the hop's public key, as a KEM binds
// its context, so a secret never serves under another context.
//
// One HKDF-Extract makes a PRK; AES-256-CTR under it is the expansion.
// HKDF-Expand would cost seven HMACs a hop, a tenth of the budget that one
// X25519 multiplication sets.
func deriveHopKeys(shared, alpha []byte, pub *PublicKey, k *hopKeys, stream []byte) {
	var ikm [3 * KeyLen]byte
	defer clear(ikm[:])
	copy(ikm[:], shared)
	copy(ikm[KeyLen:], alpha)
	copy(ikm[2*KeyLen:], pub[:])

	var material [hopKeyMaterial]byte
	defer clear(material[:])
	x := expander(labelHop, ikm[:])
	x.XORKeyStream(material[:], material[:])
	rest := material[:]
	rest = rest[copy(k.mac[:], rest):]
	rest = rest[copy(k.sprp[:], rest):]
	copy(k.replay[:], rest)
	clear(stream)
	x.XORKeyStream(stream, stream)
}

// deriveSURBKey expands the seed a SURB carries into the payload key the
// replier seals with.
func deriveSURBKey(seed []byte, k *lioness.Key) {
	clear(k[:])
	expander(labelSURB, seed).XORKeyStream(k[:], k[:])
}

// expander returns AES-256-CTR (zero IV) keyed by HKDF-Extract(SHA-256,
// salt = label, ikm). Each PRK keys exactly one stream, so the fixed IV
// never repeats under a key.
func expander(label string, ikm []byte) cipher.Stream {
	prk, err := hkdf.Extract(sha256.New, ikm, []byte(label))
	if err != nil {
		panic("onion: " + err.Error()) // unreachable outside FIPS-only mode
	}
	defer clear(prk)
	c, err := aes.NewCipher(prk)
	if err != nil {
		panic("onion: " + err.Error()) // unreachable: the PRK is 32 bytes
	}
	var iv [aes.BlockSize]byte
	return cipher.NewCTR(c, iv[:])
}

// headerMAC is γ: HMAC-SHA-256 over α ‖ β, truncated to MACLen bytes.
func headerMAC(key *[macKeyLen]byte, alpha, beta []byte) [MACLen]byte {
	h := hmac.New(sha256.New, key[:])
	h.Write(alpha)
	h.Write(beta)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	var out [MACLen]byte
	copy(out[:], sum[:])
	return out
}
