package directory

import (
	"crypto/ed25519"
	"testing"
	"time"
)

// benchNodes returns n signed descriptors with a key for epoch 1.
func benchNodes(b *testing.B, n int) []*Descriptor {
	b.Helper()
	out := make([]*Descriptor, n)
	for i := range out {
		d, k := testDescriptor(b, RoleMix, uint8(1+i%MixLayers), 1, 2, time.Unix(1e9, 0))
		out[i] = signed(b, d, k)
	}
	sortByID(out)
	return out
}

// BenchmarkParseDocument1000 parses a document of 1000 nodes and 3
// signatures: what a node or client pays once per epoch.
func BenchmarkParseDocument1000(b *testing.B) {
	keys := []ed25519.PrivateKey{newKey(b), newKey(b), newKey(b)}
	raw := makeDocument(1, DefaultParameters(), benchNodes(b, 1000), keys...).Marshal()
	b.SetBytes(int64(len(raw)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := ParseDocument(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify1000 verifies the authority signatures of a 1000-node
// document.
func BenchmarkVerify1000(b *testing.B) {
	keys := []ed25519.PrivateKey{newKey(b), newKey(b), newKey(b)}
	doc := makeDocument(1, DefaultParameters(), benchNodes(b, 1000), keys...)
	trusted := publicKeys(keys)
	b.ResetTimer()
	for b.Loop() {
		if err := doc.Verify(trusted, 2); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConsensus1000 computes the consensus of three votes of 1000
// nodes each.
func BenchmarkConsensus1000(b *testing.B) {
	nodes := benchNodes(b, 1000)
	var votes []*vote
	for range 3 {
		votes = append(votes, &vote{doc: &Document{Epoch: 1, Params: DefaultParameters(), Nodes: nodes}})
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := consensus(1, votes, 2); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNodeLookup finds a node by id in a 1000-node document, as a
// mix does for every packet it relays.
func BenchmarkNodeLookup(b *testing.B) {
	doc := makeDocument(1, DefaultParameters(), benchNodes(b, 1000))
	id := doc.Nodes[777].ID()
	for b.Loop() {
		if doc.Node(id) == nil {
			b.Fatal("not found")
		}
	}
}
