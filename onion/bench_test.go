package onion

import (
	"crypto/ecdh"
	"crypto/rand"
	"testing"

	"loam/internal/benchfloor"
)

// BenchmarkX25519 is the floor: one crypto/ecdh X25519 multiplication.
func BenchmarkX25519(b *testing.B) {
	priv, _ := ecdh.X25519().GenerateKey(rand.Reader)
	peer, _ := ecdh.X25519().GenerateKey(rand.Reader)
	pub := peer.PublicKey()
	for b.Loop() {
		if _, err := priv.ECDH(pub); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnwrap is one mix hop of a 5-hop default-geometry packet. Its
// x25519-ratio metric is ns/op over one X25519 measured in the same process;
// the goal is at most 1.25.
func BenchmarkUnwrap(b *testing.B) {
	g := DefaultGeometry
	nodes := newTestNodes(b, g.Hops)
	pkt, err := g.NewPacket(pathOf(nodes), Recipient{}, make([]byte, g.UserPayload))
	if err != nil {
		b.Fatal(err)
	}
	first, err := g.Unwrap(nodes[0].key, pkt) // arrive at the first mix
	if err != nil {
		b.Fatal(err)
	}
	in := first.Packet
	buf := make([]byte, len(in))
	b.SetBytes(int64(len(in)))
	benchfloor.Ratio(b, "x25519-ratio", func() {
		copy(buf, in)
		if _, err := g.Unwrap(nodes[1].key, buf); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkNewPacket wraps a full payload for 5 hops, as a client does.
func BenchmarkNewPacket(b *testing.B) {
	g := DefaultGeometry
	nodes := newTestNodes(b, g.Hops)
	path := pathOf(nodes)
	payload := make([]byte, g.UserPayload)
	benchfloor.Ratio(b, "x25519-ratio", func() {
		if _, err := g.NewPacket(path, Recipient{}, payload); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkNewSURB makes a 4-hop reply block, as a client does for every
// request that expects an answer.
func BenchmarkNewSURB(b *testing.B) {
	g := DefaultGeometry
	path := pathOf(newTestNodes(b, 4))
	benchfloor.Ratio(b, "x25519-ratio", func() {
		if _, _, err := g.NewSURB(path, Recipient{}); err != nil {
			b.Fatal(err)
		}
	})
}
