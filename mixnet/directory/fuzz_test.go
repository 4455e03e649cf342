package directory

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"
)

// Fuzz seeds are built from fixed keys so that the corpus is the same on
// every run.
func fuzzKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func fuzzDescriptors(f *testing.F, epoch uint64) []*Descriptor {
	var out []*Descriptor
	for i, r := range []Role{RoleGateway, RoleMix, RoleService} {
		key := fuzzKey(byte(i + 1))
		d := &Descriptor{
			IdentityKey: key.Public().(ed25519.PublicKey),
			Name:        r.String(),
			Role:        r,
			Address:     "127.0.0.1:9000",
			LinkKey:     [32]byte{byte(i + 1)},
			OnionKeys:   []EpochKey{{Epoch: epoch, Key: [32]byte{byte(i + 1), 1}}, {Epoch: epoch + 1, Key: [32]byte{byte(i + 1), 2}}},
			Published:   time.Unix(1700000000, 0),
		}
		switch r {
		case RoleMix:
			d.Layer = 2
		case RoleService:
			d.Services = []string{"echo", "mailbox"}
		case RoleGateway:
			d.OnionAddress = "abcdefghijklmnop.onion:443"
		}
		b, err := SignDescriptor(d, key)
		if err != nil {
			f.Fatal(err)
		}
		p, err := ParseDescriptor(b)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, p)
	}
	sortByID(out)
	return out
}

// FuzzParseDescriptor: no input panics, and anything accepted is canonical:
// it re-encodes to exactly its input and re-validates.
func FuzzParseDescriptor(f *testing.F) {
	for _, d := range fuzzDescriptors(f, 3) {
		f.Add(d.Raw())
		f.Add(d.Raw()[:len(d.Raw())-1])
	}
	f.Add([]byte{})
	f.Add([]byte{descriptorVersion})
	f.Add(make([]byte, MaxDescriptorLen))
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := ParseDescriptor(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatal(err)
		}
		body := d.appendBody(nil)
		if !bytes.Equal(append(body, in[len(body):]...), in) || len(in)-len(body) != ed25519SigLen {
			t.Fatal("accepted a non-canonical encoding")
		}
	})
}

// FuzzParseDocument: no input panics; anything accepted re-marshals to its
// input and verifies or fails with ErrTooFewSignatures.
func FuzzParseDocument(f *testing.F) {
	nodes := fuzzDescriptors(f, 8)
	keys := []ed25519.PrivateKey{fuzzKey(10), fuzzKey(11), fuzzKey(12)}
	doc := makeDocument(8, DefaultParameters(), nodes, keys...)
	f.Add(doc.Marshal())
	f.Add(makeDocument(8, DefaultParameters(), nil).Marshal())
	f.Add(doc.Body())
	f.Add([]byte{documentVersion})
	f.Add([]byte{})
	trusted := publicKeys(keys)
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := ParseDocument(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if !bytes.Equal(d.Marshal(), in) {
			t.Fatal("accepted a non-canonical encoding")
		}
		if err := d.Verify(trusted, 2); err != nil && !errors.Is(err, ErrTooFewSignatures) {
			t.Fatalf("Verify: %v", err)
		}
		for _, n := range d.Nodes {
			if d.Node(n.ID()) != n || d.ByLinkKey(n.LinkKey) != n {
				t.Fatal("lookup failed on a parsed document")
			}
		}
	})
}

// FuzzParseVote: no input panics; anything accepted carries a valid
// signature under the key it names and re-encodes to its input.
func FuzzParseVote(f *testing.F) {
	nodes := fuzzDescriptors(f, 8)
	key := fuzzKey(20)
	f.Add(signVote(key, 8, DefaultParameters(), nodes))
	f.Add(signVote(key, 9, DefaultParameters(), nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		v, err := parseVote(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		body := v.doc.Body()
		if !bytes.Equal(in[:len(body)], body) || len(in) != len(body)+ed25519KeyLen+ed25519SigLen {
			t.Fatal("accepted a non-canonical vote")
		}
		if !ed25519.Verify(v.authority, signedMessage(labelVote, body), in[len(in)-ed25519SigLen:]) {
			t.Fatal("accepted a vote whose signature does not verify")
		}
	})
}

// FuzzParseSignatureRecord: no input panics; anything accepted re-encodes to
// its input.
func FuzzParseSignatureRecord(f *testing.F) {
	key := fuzzKey(30)
	rec := &signatureRecord{epoch: 8, authority: key.Public().(ed25519.PublicKey), sig: make([]byte, ed25519SigLen)}
	f.Add(rec.marshal())
	f.Add([]byte{signatureVersion})
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := parseSignatureRecord(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if !bytes.Equal(s.marshal(), in) {
			t.Fatal("accepted a non-canonical record")
		}
	})
}
