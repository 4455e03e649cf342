package directory

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"testing"
	"time"
)

// castTestVote builds a vote the way an authority does and parses it back as
// a peer would.
func castTestVote(t *testing.T, key ed25519.PrivateKey, epoch uint64, params Parameters, nodes []*Descriptor) *vote {
	t.Helper()
	nodes = append([]*Descriptor(nil), nodes...)
	sortByID(nodes)
	v, err := parseVote(signVote(key, epoch, params, nodes))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestConsensusRules(t *testing.T) {
	keys := []ed25519.PrivateKey{newKey(t), newKey(t), newKey(t)}
	params := testParams(time.Minute)
	const e = 9
	base := testNetwork(t, e, 1, time.Unix(1000, 0))
	lonelyD, lk := testDescriptor(t, RoleMix, 2, e, 1, time.Unix(1000, 0))
	lonely := signed(t, lonelyD, lk)

	// A node re-published: authorities 0 and 1 hold the newer, 2 the older.
	oldD, nk := testDescriptor(t, RoleMix, 3, e, 1, time.Unix(1000, 0))
	older := signed(t, oldD, nk)
	oldD.Published = time.Unix(2000, 0)
	newer := signed(t, oldD, nk)

	v0 := castTestVote(t, keys[0], e, params, append([]*Descriptor{lonely, newer}, base...))
	v1 := castTestVote(t, keys[1], e, params, append([]*Descriptor{newer}, base...))
	v2 := castTestVote(t, keys[2], e, params, append([]*Descriptor{older}, base[1:]...))

	doc, err := consensus(e, []*vote{v0, v1, v2}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Node(lonely.ID()) != nil {
		t.Fatal("a descriptor in one vote was included")
	}
	if n := doc.Node(newer.ID()); n == nil || !n.Published.Equal(newer.Published) {
		t.Fatal("the newer descriptor in two votes was not chosen")
	}
	if len(doc.Nodes) != len(base)+1 {
		t.Fatalf("%d nodes, want %d", len(doc.Nodes), len(base)+1)
	}
	// With threshold 3 only the nodes all three hold remain.
	doc3, err := consensus(e, []*vote{v0, v1, v2}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc3.Nodes) != len(base)-1 {
		t.Fatalf("threshold 3: %d nodes", len(doc3.Nodes))
	}

	// Order of votes does not matter: byte-identical bodies.
	a, _ := consensus(e, []*vote{v2, v0, v1}, 2)
	b, _ := consensus(e, []*vote{v1, v2, v0}, 2)
	if !bytes.Equal(a.Body(), doc.Body()) || !bytes.Equal(b.Body(), doc.Body()) {
		t.Fatal("consensus depends on the order of votes")
	}

	if _, err := consensus(e, []*vote{v0}, 2); !errors.Is(err, errNoConsensus) {
		t.Fatalf("one vote: %v", err)
	}
}

func TestConsensusTieBreakAndLinkConflict(t *testing.T) {
	keys := []ed25519.PrivateKey{newKey(t), newKey(t), newKey(t), newKey(t)}
	params := testParams(time.Minute)
	const e = 2
	d, k := testDescriptor(t, RoleMix, 1, e, 1, time.Unix(500, 0))
	x := signed(t, d, k)
	d.Name = "other" // same node, same Published, different bytes
	y := signed(t, d, k)
	want := x
	hx, hy := sha256.Sum256(x.Raw()), sha256.Sum256(y.Raw())
	if bytes.Compare(hy[:], hx[:]) < 0 {
		want = y
	}
	doc, err := consensus(e, []*vote{
		castTestVote(t, keys[0], e, params, []*Descriptor{x}),
		castTestVote(t, keys[1], e, params, []*Descriptor{x}),
		castTestVote(t, keys[2], e, params, []*Descriptor{y}),
		castTestVote(t, keys[3], e, params, []*Descriptor{y}),
	}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Nodes) != 1 || !bytes.Equal(doc.Nodes[0].Raw(), want.Raw()) {
		t.Fatal("tie not broken by the lowest hash")
	}

	// Two nodes claiming one link key are both left out.
	p, pk := testDescriptor(t, RoleMix, 2, e, 1, time.Unix(500, 0))
	q, qk := testDescriptor(t, RoleMix, 3, e, 1, time.Unix(500, 0))
	q.LinkKey = p.LinkKey
	ps, qs := signed(t, p, pk), signed(t, q, qk)
	doc, err = consensus(e, []*vote{
		castTestVote(t, keys[0], e, params, []*Descriptor{ps, x}),
		castTestVote(t, keys[1], e, params, []*Descriptor{ps, x}),
		castTestVote(t, keys[2], e, params, []*Descriptor{qs, x}),
		castTestVote(t, keys[3], e, params, []*Descriptor{qs}),
	}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Nodes) != 1 || doc.Nodes[0].ID() != x.ID() {
		t.Fatalf("link key conflict: %d nodes", len(doc.Nodes))
	}
	if _, err := ParseDocument(doc.Marshal()); err != nil {
		t.Fatal(err)
	}
}

func TestConsensusParameters(t *testing.T) {
	keys := []ed25519.PrivateKey{newKey(t), newKey(t), newKey(t)}
	p1 := testParams(time.Minute)
	p2 := p1
	p2.LambdaP = 5
	p3 := p1
	p3.Mu = time.Second
	const e = 1
	v := func(i int, p Parameters) *vote { return castTestVote(t, keys[i], e, p, nil) }

	doc, err := consensus(e, []*vote{v(0, p1), v(1, p2), v(2, p1)}, 2)
	if err != nil || doc.Params != p1 {
		t.Fatalf("two of three agree: %v %+v", err, doc)
	}
	if _, err := consensus(e, []*vote{v(0, p1), v(1, p2), v(2, p3)}, 2); !errors.Is(err, errNoConsensus) {
		t.Fatalf("no two agree: %v", err)
	}
}

func TestVoteEncoding(t *testing.T) {
	key := newKey(t)
	nodes := testNetwork(t, 4, 1, time.Unix(1e9, 0))[:1] // one node keeps the loop below quick
	raw := signVote(key, 4, testParams(time.Minute), nodes)
	v, err := parseVote(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(v.authority, key.Public().(ed25519.PublicKey)) || v.doc.Epoch != 4 || len(v.doc.Nodes) != len(nodes) {
		t.Fatal("vote fields")
	}
	for i := range raw {
		c := bytes.Clone(raw)
		c[i] ^= 0x20
		if _, err := parseVote(c); err == nil {
			t.Fatalf("accepted a change of byte %d", i)
		}
	}
	// A vote signature is not a document signature and vice versa.
	doc := makeDocument(4, testParams(time.Minute), nodes, key)
	forged := append(doc.Body(), key.Public().(ed25519.PublicKey)...)
	forged = append(forged, doc.Signatures[0].Sig...)
	if _, err := parseVote(forged); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("document signature accepted as a vote: %v", err)
	}
}

func TestSignatureRecordEncoding(t *testing.T) {
	key := newKey(t)
	s := &signatureRecord{epoch: 77, authority: key.Public().(ed25519.PublicKey), bodyHash: sha256.Sum256([]byte("x")), sig: bytes.Repeat([]byte{7}, 64)}
	b := s.marshal()
	if len(b) != signatureRecordLen {
		t.Fatalf("%d bytes", len(b))
	}
	got, err := parseSignatureRecord(b)
	if err != nil || got.epoch != 77 || got.bodyHash != s.bodyHash || !bytes.Equal(got.sig, s.sig) {
		t.Fatalf("round trip: %v", err)
	}
	b[0] = 9
	if _, err := parseSignatureRecord(b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("version: %v", err)
	}
	if _, err := parseSignatureRecord(b[:10]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short: %v", err)
	}
}
