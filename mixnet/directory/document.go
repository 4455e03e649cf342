package directory

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"slices"
	"sort"

	"loam/onion"
)

// Signature is one authority's Ed25519 signature over a document's body.
type Signature struct {
	Authority ed25519.PublicKey
	Sig       []byte
}

// Document is the directory of one epoch: the network's parameters and its
// nodes, signed by the authorities.
type Document struct {
	Epoch  uint64
	Params Parameters
	// Nodes are sorted by ID, each with an onion key for Epoch. They must
	// carry their signed encoding (come from ParseDescriptor or
	// ParseDocument), which is what the document's body holds.
	Nodes      []*Descriptor
	Signatures []Signature
}

// Body returns the bytes the authorities sign: everything but the
// signatures.
func (d *Document) Body() []byte {
	n := 1 + 8 + ParamsLen + 2
	for _, nd := range d.Nodes {
		n += 2 + len(nd.raw)
	}
	b := make([]byte, 0, n)
	b = append(b, documentVersion)
	b = appendU64(b, d.Epoch)
	b = appendParams(b, d.Params)
	b = appendU16(b, uint16(len(d.Nodes)))
	for _, nd := range d.Nodes {
		b = appendU16(b, uint16(len(nd.raw)))
		b = append(b, nd.raw...)
	}
	return b
}

// Marshal returns the body followed by the signatures in canonical order:
// sorted by authority key, one per authority (the first given), entries of
// the wrong length left out. Every authority serving the same body with the
// same signatures therefore serves the same bytes.
func (d *Document) Marshal() []byte {
	return appendSignatures(d.Body(), canonicalSignatures(d.Signatures))
}

func canonicalSignatures(sigs []Signature) []Signature {
	out := make([]Signature, 0, len(sigs))
	for _, s := range sigs {
		if len(s.Authority) == ed25519KeyLen && len(s.Sig) == ed25519SigLen {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b Signature) int { return bytes.Compare(a.Authority, b.Authority) })
	out = slices.CompactFunc(out, func(a, b Signature) bool { return bytes.Equal(a.Authority, b.Authority) })
	if len(out) > MaxAuthorities {
		out = out[:MaxAuthorities]
	}
	return out
}

func appendSignatures(b []byte, sigs []Signature) []byte {
	b = append(b, byte(len(sigs)))
	for _, s := range sigs {
		b = append(b, s.Authority...)
		b = append(b, s.Sig...)
	}
	return b
}

// ParseDocument decodes a document and checks its structure and every
// descriptor's self-signature. It does not check the authorities'
// signatures: call Verify. Errors wrap ErrMalformed or ErrBadSignature.
func ParseDocument(b []byte) (*Document, error) {
	if len(b) > MaxDocumentLen {
		return nil, fmt.Errorf("%w: document of %d bytes exceeds %d", ErrMalformed, len(b), MaxDocumentLen)
	}
	r := &reader{b: b}
	d, err := readBody(r)
	if err != nil {
		return nil, err
	}
	n := int(r.u8("signature count"))
	if n > MaxAuthorities {
		r.fail("%d signatures exceed %d", n, MaxAuthorities)
	}
	for i := 0; i < n && r.err == nil; i++ {
		s := Signature{
			Authority: ed25519.PublicKey(bytes.Clone(r.take(ed25519KeyLen, "authority key"))),
			Sig:       bytes.Clone(r.take(ed25519SigLen, "signature")),
		}
		if i > 0 && r.err == nil && bytes.Compare(d.Signatures[i-1].Authority, s.Authority) >= 0 {
			r.fail("signatures not strictly ascending by authority key")
		}
		d.Signatures = append(d.Signatures, s)
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	return d, nil
}

// readBody decodes a document body (the part a vote shares) and checks it:
// valid parameters, at most MaxNodes descriptors that each verify, strictly
// ascending node ids, distinct link keys, an onion key for the epoch in
// each.
func readBody(r *reader) (*Document, error) {
	if v := r.u8("version"); r.err == nil && v != documentVersion {
		return nil, fmt.Errorf("%w: document version %d", ErrMalformed, v)
	}
	d := &Document{Epoch: r.u64("epoch")}
	d.Params = readParams(r)
	n := int(r.u16("node count"))
	if n > MaxNodes {
		r.fail("%d nodes exceed %d", n, MaxNodes)
	}
	if r.err != nil {
		return nil, r.err
	}
	d.Nodes = make([]*Descriptor, 0, min(n, r.rest()/(2+1)))
	links := make(map[[32]byte]struct{}, n)
	var prev onion.NodeID
	for i := range n {
		raw := r.take(int(r.u16("descriptor length")), "descriptor")
		if r.err != nil {
			return nil, r.err
		}
		nd, err := ParseDescriptor(raw)
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
		id := nd.ID()
		if i > 0 && bytes.Compare(prev[:], id[:]) >= 0 {
			return nil, fmt.Errorf("%w: node ids not strictly ascending at %v", ErrMalformed, id)
		}
		prev = id
		if _, dup := links[nd.LinkKey]; dup {
			return nil, fmt.Errorf("%w: link key of node %v repeated", ErrMalformed, id)
		}
		links[nd.LinkKey] = struct{}{}
		if _, ok := nd.OnionKey(d.Epoch); !ok {
			return nil, fmt.Errorf("%w: node %v has no onion key for epoch %d", ErrMalformed, id, d.Epoch)
		}
		d.Nodes = append(d.Nodes, nd)
	}
	return d, nil
}

// Verify checks that distinct authorities among trusted made valid
// signatures over the body, at least threshold of them. Signatures by keys
// not in trusted are ignored, and an authority that signed twice counts once.
// Errors other than a bad threshold wrap ErrTooFewSignatures.
func (d *Document) Verify(trusted []ed25519.PublicKey, threshold int) error {
	if threshold < 1 {
		return fmt.Errorf("directory: threshold %d, want at least 1", threshold)
	}
	known := make(map[[ed25519KeyLen]byte]bool, len(trusted))
	for _, k := range trusted {
		if len(k) == ed25519KeyLen {
			known[[ed25519KeyLen]byte(k)] = true
		}
	}
	msg := signedMessage(labelDocument, d.Body())
	valid := make(map[[ed25519KeyLen]byte]bool, len(d.Signatures))
	for _, s := range d.Signatures {
		if len(s.Authority) != ed25519KeyLen || len(s.Sig) != ed25519SigLen {
			continue
		}
		k := [ed25519KeyLen]byte(s.Authority)
		if !known[k] || valid[k] {
			continue
		}
		if ed25519.Verify(s.Authority, msg, s.Sig) {
			valid[k] = true
		}
	}
	if len(valid) < threshold {
		return fmt.Errorf("%w: epoch %d has %d valid of %d needed", ErrTooFewSignatures, d.Epoch, len(valid), threshold)
	}
	return nil
}

// sign adds this authority's signature over the body.
func (d *Document) sign(key ed25519.PrivateKey) Signature {
	s := Signature{
		Authority: key.Public().(ed25519.PublicKey),
		Sig:       ed25519.Sign(key, signedMessage(labelDocument, d.Body())),
	}
	d.Signatures = append(d.Signatures, s)
	return s
}

// Node returns the node with id, or nil.
func (d *Document) Node(id onion.NodeID) *Descriptor {
	i := sort.Search(len(d.Nodes), func(i int) bool {
		nid := d.Nodes[i].ID()
		return bytes.Compare(nid[:], id[:]) >= 0
	})
	if i < len(d.Nodes) && d.Nodes[i].ID() == id {
		return d.Nodes[i]
	}
	return nil
}

// ByRole returns the nodes of role r, in id order.
func (d *Document) ByRole(r Role) []*Descriptor {
	var out []*Descriptor
	for _, n := range d.Nodes {
		if n.Role == r {
			out = append(out, n)
		}
	}
	return out
}

// Layer returns the mixes of layer l (1 to MixLayers), in id order.
func (d *Document) Layer(l int) []*Descriptor {
	var out []*Descriptor
	for _, n := range d.Nodes {
		if n.Role == RoleMix && int(n.Layer) == l {
			out = append(out, n)
		}
	}
	return out
}

// ByLinkKey returns the node whose link listener has static key k, or nil;
// links use it to authorize a peer.
func (d *Document) ByLinkKey(k [32]byte) *Descriptor {
	for _, n := range d.Nodes {
		if n.LinkKey == k {
			return n
		}
	}
	return nil
}
