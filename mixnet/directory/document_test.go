package directory

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestMaxDocumentFits: a document of MaxNodes descriptors of the largest
// size with MaxAuthorities signatures is within MaxDocumentLen, so the
// consensus of valid votes always encodes.
func TestMaxDocumentFits(t *testing.T) {
	worst := 1 + 8 + ParamsLen + 2 + MaxNodes*(2+MaxDescriptorLen) + 1 + MaxAuthorities*(ed25519KeyLen+ed25519SigLen)
	if worst > MaxDocumentLen {
		t.Fatalf("worst-case document of %d bytes exceeds %d", worst, MaxDocumentLen)
	}
	if MaxDescriptorLen > 1<<16-1 {
		t.Fatal("descriptor length does not fit its uint16 prefix")
	}
}

func TestPropertyDocumentRoundTrip(t *testing.T) {
	idKeys := []ed25519.PrivateKey{newKey(t), newKey(t), newKey(t), newKey(t), newKey(t)}
	authKeys := []ed25519.PrivateKey{newKey(t), newKey(t), newKey(t), newKey(t)}
	rapid.Check(t, func(t *rapid.T) {
		params := drawParams(t)
		epoch := rapid.Uint64Range(0, 1<<40).Draw(t, "epoch")
		var nodes []*Descriptor
		seen := map[string]bool{}
		for range rapid.IntRange(0, 5).Draw(t, "nodes") {
			d, key := drawDescriptor(t, idKeys)
			if seen[string(d.IdentityKey)] {
				continue
			}
			seen[string(d.IdentityKey)] = true
			d.OnionKeys[0].Epoch = epoch // the document's epoch …
			for i := 1; i < len(d.OnionKeys); i++ {
				d.OnionKeys[i].Epoch = epoch + uint64(i) // … then ascending
			}
			b, err := SignDescriptor(d, key)
			if err != nil {
				t.Fatal(err)
			}
			p, err := ParseDescriptor(b)
			if err != nil {
				t.Fatal(err)
			}
			nodes = append(nodes, p)
		}
		signers := rapid.SliceOfNDistinct(rapid.SampledFrom(authKeys), 0, len(authKeys), func(k ed25519.PrivateKey) string { return string(k) }).Draw(t, "signers")
		doc := makeDocument(epoch, params, nodes, signers...)
		raw := doc.Marshal()
		got, err := ParseDocument(raw)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Marshal(), raw) || got.Epoch != epoch || got.Params != params || len(got.Nodes) != len(nodes) {
			t.Fatal("round trip changed the document")
		}
		if len(signers) > 0 {
			if err := got.Verify(publicKeys(authKeys), len(signers)); err != nil {
				t.Fatal(err)
			}
		}
		if err := got.Verify(publicKeys(authKeys), len(signers)+1); !errors.Is(err, ErrTooFewSignatures) {
			t.Fatalf("verified with more signatures than made: %v", err)
		}
	})
}

// TestDocumentSingleByteChanges: any single-byte change of a document signed
// by all three authorities fails ParseDocument or Verify with threshold 3.
func TestDocumentSingleByteChanges(t *testing.T) {
	keys := []ed25519.PrivateKey{newKey(t), newKey(t), newKey(t)}
	nodes := testNetwork(t, 7, 2, time.Unix(1e9, 0))[:3]
	raw := makeDocument(7, testParams(time.Minute), nodes, keys...).Marshal()
	trusted := publicKeys(keys)
	for i := range raw {
		c := bytes.Clone(raw)
		c[i] ^= 1 << (i % 8)
		d, err := ParseDocument(c)
		if err == nil {
			err = d.Verify(trusted, 3)
		}
		if err == nil {
			t.Fatalf("accepted a change of byte %d", i)
		}
	}
}

func TestVerify(t *testing.T) {
	keys := []ed25519.PrivateKey{newKey(t), newKey(t), newKey(t)}
	trusted := publicKeys(keys)
	nodes := testNetwork(t, 3, 1, time.Unix(1e9, 0))
	params := testParams(time.Minute)

	one := makeDocument(3, params, nodes, keys[0])
	if err := one.Verify(trusted, 2); !errors.Is(err, ErrTooFewSignatures) {
		t.Fatalf("one signature met threshold 2: %v", err)
	}
	if err := one.Verify(trusted, 1); err != nil {
		t.Fatal(err)
	}

	stranger := makeDocument(3, params, nodes, keys[0], newKey(t), newKey(t))
	if err := stranger.Verify(trusted, 2); !errors.Is(err, ErrTooFewSignatures) {
		t.Fatalf("unknown authorities counted: %v", err)
	}

	dup := makeDocument(3, params, nodes, keys[0])
	dup.Signatures = append(dup.Signatures, dup.Signatures[0], dup.Signatures[0])
	if err := dup.Verify(trusted, 2); !errors.Is(err, ErrTooFewSignatures) {
		t.Fatalf("a duplicated signature counted twice: %v", err)
	}
	if err := dup.Verify(append(trusted, trusted[0]), 2); !errors.Is(err, ErrTooFewSignatures) {
		t.Fatalf("a key trusted twice counted twice: %v", err)
	}
	if got, err := ParseDocument(dup.Marshal()); err != nil || len(got.Signatures) != 1 {
		t.Fatalf("Marshal kept duplicates: %v", err)
	}

	all := makeDocument(3, params, nodes, keys...)
	if err := all.Verify(trusted, 3); err != nil {
		t.Fatal(err)
	}
	tampered := *all
	tampered.Epoch = 4
	if err := tampered.Verify(trusted, 1); !errors.Is(err, ErrTooFewSignatures) {
		t.Fatalf("tampered epoch verified: %v", err)
	}
	tampered = *all
	tampered.Params.LambdaP = 3
	if err := tampered.Verify(trusted, 1); !errors.Is(err, ErrTooFewSignatures) {
		t.Fatalf("tampered parameters verified: %v", err)
	}
	tampered = *all
	tampered.Nodes = tampered.Nodes[1:]
	if err := tampered.Verify(trusted, 1); !errors.Is(err, ErrTooFewSignatures) {
		t.Fatalf("dropped node verified: %v", err)
	}
	if err := all.Verify(trusted, 0); err == nil || errors.Is(err, ErrTooFewSignatures) {
		t.Fatalf("threshold 0: %v", err)
	}
	// A signature by a trusted key under another label does not count.
	vote := *all
	vote.Signatures = []Signature{{Authority: trusted[0], Sig: ed25519.Sign(keys[0], signedMessage(labelVote, all.Body()))}}
	if err := vote.Verify(trusted, 1); !errors.Is(err, ErrTooFewSignatures) {
		t.Fatalf("vote signature counted as a document signature: %v", err)
	}
}

func TestParseDocumentRejects(t *testing.T) {
	keys := []ed25519.PrivateKey{newKey(t), newKey(t)}
	params := testParams(time.Minute)
	nodes := testNetwork(t, 3, 1, time.Unix(1e9, 0))
	good := makeDocument(3, params, nodes, keys...)
	if _, err := ParseDocument(good.Marshal()); err != nil {
		t.Fatal(err)
	}
	swapped := makeDocument(3, params, nodes)
	swapped.Nodes[0], swapped.Nodes[1] = swapped.Nodes[1], swapped.Nodes[0]
	twice := makeDocument(3, params, nodes)
	twice.Nodes = append(twice.Nodes[:1], twice.Nodes...)
	d0, k0 := testDescriptor(t, RoleMix, 2, 3, 1, time.Unix(1e9, 0))
	d0.LinkKey = nodes[0].LinkKey
	sameLink := makeDocument(3, params, append([]*Descriptor{signed(t, d0, k0)}, nodes...))
	wrongEpoch := makeDocument(4, params, nodes)
	badParams := makeDocument(3, params, nodes)
	badParams.Params.Replicas = 0
	unsortedSigs := good.Body()
	sigs := canonicalSignatures(good.Signatures)
	unsortedSigs = appendSignatures(unsortedSigs, []Signature{sigs[1], sigs[0]})
	dupSigs := appendSignatures(good.Body(), []Signature{sigs[0], sigs[0]})
	version := good.Marshal()
	version[0] = 2

	cases := map[string][]byte{
		"unsorted nodes":      swapped.Marshal(),
		"duplicate node":      twice.Marshal(),
		"shared link key":     sameLink.Marshal(),
		"no key for epoch":    wrongEpoch.Marshal(),
		"invalid parameters":  badParams.Marshal(),
		"unsorted signatures": unsortedSigs,
		"repeated signature":  dupSigs,
		"trailing byte":       append(good.Marshal(), 0),
		"version 2":           version,
		"empty":               {},
		"oversized":           make([]byte, MaxDocumentLen+1),
	}
	for name, b := range cases {
		if _, err := ParseDocument(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestDocumentLookups(t *testing.T) {
	nodes := testNetwork(t, 3, 1, time.Unix(1e9, 0))
	doc, err := ParseDocument(makeDocument(3, testParams(time.Minute), nodes).Marshal())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if got := doc.Node(n.ID()); got == nil || !bytes.Equal(got.Raw(), n.Raw()) {
			t.Fatalf("Node(%v)", n.ID())
		}
		if got := doc.ByLinkKey(n.LinkKey); got == nil || got.ID() != n.ID() {
			t.Fatalf("ByLinkKey of %v", n.ID())
		}
	}
	if doc.Node([16]byte{1}) != nil || doc.ByLinkKey([32]byte{1}) != nil {
		t.Fatal("found a node that is not there")
	}
	if len(doc.ByRole(RoleGateway)) != 1 || len(doc.ByRole(RoleMix)) != 4 || len(doc.ByRole(RoleService)) != 1 {
		t.Fatal("ByRole")
	}
	if len(doc.Layer(1)) != 2 || len(doc.Layer(2)) != 1 || len(doc.Layer(3)) != 1 || len(doc.Layer(0)) != 0 || len(doc.Layer(4)) != 0 {
		t.Fatal("Layer")
	}
	for _, m := range doc.Layer(1) {
		if m.Role != RoleMix || m.Layer != 1 {
			t.Fatal("Layer(1) returned a non-layer-1 node")
		}
	}
}
