package onion

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/sha256"
	"crypto/subtle"

	"loam/onion/internal/lioness"
)

// hopKeys is everything one hop's shared secret yields (SPEC.md §2.3) but
// the β keystream, which the same derivation writes to a caller's buffer.
type hopKeys struct {
	mac    [macKeyLen]byte // secret prefix of γ
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
// One SHA-256 of the labelled secret and context makes a PRK; AES-256-CTR
// under it is the expansion (SPEC.md §2.3). HKDF would cost eight HMACs a
// hop, a tenth of the budget that one X25519 multiplication sets.
func deriveHopKeys(shared, alpha []byte, pub *PublicKey, k *hopKeys, stream []byte) {
	var in [len(labelHop) + 3*KeyLen]byte
	defer clear(in[:])
	n := copy(in[:], labelHop)
	n += copy(in[n:], shared)
	n += copy(in[n:], alpha)
	copy(in[n:], pub[:])

	var material [hopKeyMaterial]byte
	defer clear(material[:])
	x := expander(in[:])
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
	var in [len(labelSURB) + surbKeySeedLen]byte
	defer clear(in[:])
	copy(in[copy(in[:], labelSURB):], seed)
	clear(k[:])
	expander(in[:]).XORKeyStream(k[:], k[:])
}

// expander returns AES-256-CTR (zero IV) keyed by SHA-256(in). Each PRK
// keys exactly one stream, so the fixed IV never repeats under a key.
func expander(in []byte) cipher.Stream {
	prk := sha256.Sum256(in)
	defer clear(prk[:])
	c, err := aes.NewCipher(prk[:])
	if err != nil {
		panic("onion: " + err.Error()) // unreachable: the PRK is 32 bytes
	}
	var iv [aes.BlockSize]byte
	return cipher.NewCTR(c, iv[:])
}

// headerMAC is γ: SHA-256(μ ‖ α ‖ β) truncated to MACLen bytes. A
// secret-prefix hash is a sound MAC here because μ is fresh for every hop of
// every packet and α ‖ β has one length per geometry: no two messages are
// prefixes of each other, and the truncation leaves no state to extend.
func headerMAC(key *[macKeyLen]byte, alpha, beta []byte) [MACLen]byte {
	var buf [macKeyLen + KeyLen + MaxHops*SlotLen]byte
	n := copy(buf[:], key[:])
	n += copy(buf[n:], alpha)
	n += copy(buf[n:], beta)
	sum := sha256.Sum256(buf[:n])
	clear(buf[:macKeyLen])
	var out [MACLen]byte
	copy(out[:], sum[:])
	return out
}
