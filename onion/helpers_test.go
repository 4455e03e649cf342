package onion

import (
	"crypto/rand"
	mrand "math/rand/v2"
	"testing"
	"time"
)

type testNode struct {
	id  NodeID
	key *PrivateKey
}

func newTestNodes(t testing.TB, n int) []testNode {
	t.Helper()
	nodes := make([]testNode, n)
	for i := range nodes {
		k, err := GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		nodes[i].key = k
		rand.Read(nodes[i].id[:])
	}
	return nodes
}

// pathOf turns nodes into hops, hop i holding the packet for i+1 ms.
func pathOf(nodes []testNode) []Hop {
	path := make([]Hop, len(nodes))
	for i, n := range nodes {
		path[i] = Hop{Node: n.id, Key: n.key.Public(), Delay: time.Duration(i+1) * time.Millisecond}
	}
	return path
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// seededReader is a deterministic io.Reader for test vectors only; packets
// that leave a test always draw from crypto/rand.
func seededReader(seed byte) *mrand.ChaCha8 {
	var s [32]byte
	for i := range s {
		s[i] = seed
	}
	return mrand.NewChaCha8(s)
}

// walk unwraps pkt along nodes and returns each hop's result; it fails the
// test if any hop but the last does not relay to the next node.
func walk(t *testing.T, g Geometry, nodes []testNode, pkt []byte) []Unwrapped {
	t.Helper()
	out := make([]Unwrapped, len(nodes))
	for i, n := range nodes {
		in := len(pkt)
		u, err := g.Unwrap(n.key, pkt)
		if err != nil {
			t.Fatalf("hop %d: %v", i, err)
		}
		out[i] = u
		if i < len(nodes)-1 {
			if u.Command != Relay || u.Next != nodes[i+1].id {
				t.Fatalf("hop %d: got %v to %v, want relay to %v", i, u.Command, u.Next, nodes[i+1].id)
			}
			if len(u.Packet) != in {
				t.Fatalf("hop %d: output %d bytes, input %d", i, len(u.Packet), in)
			}
			pkt = u.Packet
		}
	}
	return out
}
