package onion

import (
	"crypto/ecdh"
	"fmt"
	"io"
)

// buildHeader writes into hdr the header that carries a packet along path and
// ends with the final slot, and returns each hop's keys in path order. The
// caller wipes them. rng supplies the ephemeral keys and the padding.
//
// The construction is Sphinx's (Danezis and Goldberg, 2009) with one change:
// instead of one blinded group element, every slot carries the next hop's own
// fresh ephemeral key, so a hop does a single X25519 multiplication.
func (g Geometry) buildHeader(rng io.Reader, path []Hop, final []byte, hdr []byte) ([]hopKeys, error) {
	n := len(path)
	if n < 1 || n > g.Hops {
		return nil, fmt.Errorf("onion: path has %d hops, geometry allows 1 to %d", n, g.Hops)
	}
	delays := make([]uint32, n)
	for i, h := range path[:n-1] {
		d, err := delayMicros(h.Delay)
		if err != nil {
			return nil, fmt.Errorf("onion: hop %d: %w", i, err)
		}
		delays[i] = d
	}

	r, betaLen := g.Hops, g.BetaLen()
	alphas := make([][KeyLen]byte, n)
	keys := make([]hopKeys, n)
	streams := make([][]byte, n)
	ok := false
	defer func() {
		for _, s := range streams {
			clear(s)
		}
		if !ok {
			for i := range keys {
				keys[i].wipe()
			}
		}
	}()
	for i, h := range path {
		streams[i] = make([]byte, betaLen+SlotLen)
		if err := encapsulate(rng, &h, &alphas[i], &keys[i], streams[i]); err != nil {
			return nil, fmt.Errorf("onion: hop %d: %w", i, err)
		}
	}

	// The filler is what hop n-1's β looks like past its meaningful part
	// after the earlier hops have each shifted in their keystream tail.
	filler := make([]byte, 0, (n-1)*SlotLen)
	for i := 0; i < n-1; i++ {
		filler = append(filler, make([]byte, SlotLen)...)
		tail := streams[i][(r-i)*SlotLen:]
		xorInto(filler, tail)
	}

	beta := make([]byte, betaLen)
	last := n - 1
	copy(beta, final)
	if _, err := io.ReadFull(rng, beta[SlotLen:(r-last)*SlotLen]); err != nil {
		return nil, fmt.Errorf("onion: reading randomness: %w", err)
	}
	xorInto(beta[:(r-last)*SlotLen], streams[last])
	copy(beta[(r-last)*SlotLen:], filler)
	gamma := headerMAC(&keys[last].mac, alphas[last][:], beta)

	for i := n - 2; i >= 0; i-- {
		next := make([]byte, betaLen)
		putRelay(next[:SlotLen], path[i+1].Node, delays[i], alphas[i+1][:], gamma)
		copy(next[SlotLen:], beta[:betaLen-SlotLen])
		xorInto(next, streams[i])
		beta = next
		gamma = headerMAC(&keys[i].mac, alphas[i][:], beta)
	}

	copy(g.alpha(hdr), alphas[0][:])
	copy(g.beta(hdr), beta)
	copy(g.gamma(hdr), gamma[:])
	ok = true
	return keys, nil
}

// encapsulate makes a fresh ephemeral key for hop h, writes its public half
// (with the hop's key-phase bit) to alpha, derives the hop's keys and fills
// stream with the hop's β keystream.
func encapsulate(rng io.Reader, h *Hop, alpha *[KeyLen]byte, k *hopKeys, stream []byte) error {
	if h.Phase > 1 {
		return fmt.Errorf("onion: key phase %d, want 0 or 1", h.Phase)
	}
	var seed [KeyLen]byte
	defer clear(seed[:])
	if _, err := io.ReadFull(rng, seed[:]); err != nil {
		return fmt.Errorf("onion: reading randomness: %w", err)
	}
	eph, err := ecdh.X25519().NewPrivateKey(seed[:])
	if err != nil {
		return fmt.Errorf("onion: %w", err)
	}
	copy(alpha[:], eph.PublicKey().Bytes())
	alpha[phaseBitByte] |= h.Phase << 7

	pub, err := ecdh.X25519().NewPublicKey(h.Key[:])
	if err != nil {
		return fmt.Errorf("onion: hop key: %w", err)
	}
	shared, err := eph.ECDH(pub)
	if err != nil {
		return fmt.Errorf("onion: hop key is a low-order point: %w", err)
	}
	defer clear(shared)
	deriveHopKeys(shared, alpha[:], &h.Key, k, stream)
	return nil
}

// xorInto sets dst ^= src over len(dst) bytes.
func xorInto(dst, src []byte) {
	for i := range dst {
		dst[i] ^= src[i]
	}
}
