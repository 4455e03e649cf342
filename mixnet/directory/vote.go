package directory

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
)

// A vote is what one authority proposes for an epoch: a document body
// holding the descriptors it accepted and its own parameters, signed by it
// under its own label.
//
//	vote = body ‖ authority key (32) ‖ Ed25519(authority, "loam vote v1" ‖ body) (64)
type vote struct {
	doc       *Document // Epoch, Params and Nodes; no signatures
	authority ed25519.PublicKey
	raw       []byte
}

// signVote encodes and signs a vote; nodes are sorted by id, hold an onion
// key for epoch and have distinct link keys.
func signVote(key ed25519.PrivateKey, epoch uint64, params Parameters, nodes []*Descriptor) []byte {
	d := &Document{Epoch: epoch, Params: params, Nodes: nodes}
	body := d.Body()
	sig := ed25519.Sign(key, signedMessage(labelVote, body))
	out := append(body, key.Public().(ed25519.PublicKey)...)
	return append(out, sig...)
}

// parseVote decodes a vote and verifies its signature under the key it
// names. The caller checks that key is the authority it asked.
func parseVote(b []byte) (*vote, error) {
	if len(b) > MaxDocumentLen {
		return nil, fmt.Errorf("%w: vote of %d bytes exceeds %d", ErrMalformed, len(b), MaxDocumentLen)
	}
	r := &reader{b: b}
	d, err := readBody(r)
	if err != nil {
		return nil, err
	}
	bodyLen := r.off
	key := ed25519.PublicKey(bytes.Clone(r.take(ed25519KeyLen, "authority key")))
	sig := r.take(ed25519SigLen, "vote signature")
	if err := r.done(); err != nil {
		return nil, err
	}
	if !ed25519.Verify(key, signedMessage(labelVote, b[:bodyLen]), sig) {
		return nil, fmt.Errorf("%w: vote for epoch %d", ErrBadSignature, d.Epoch)
	}
	return &vote{doc: d, authority: key, raw: bytes.Clone(b)}, nil
}

// A signature record is what an authority publishes after signing its
// consensus: its document signature and, so that a peer whose body differs
// can tell why the signature fails, the hash of the body it signed.
//
//	record = 0x01 ‖ epoch (8) ‖ authority key (32) ‖ SHA-256(body) (32) ‖ signature (64)
type signatureRecord struct {
	epoch     uint64
	authority ed25519.PublicKey
	bodyHash  [32]byte
	sig       []byte
}

func (s *signatureRecord) marshal() []byte {
	b := make([]byte, 0, signatureRecordLen)
	b = append(b, signatureVersion)
	b = appendU64(b, s.epoch)
	b = append(b, s.authority...)
	b = append(b, s.bodyHash[:]...)
	return append(b, s.sig...)
}

func parseSignatureRecord(b []byte) (*signatureRecord, error) {
	if len(b) != signatureRecordLen {
		return nil, fmt.Errorf("%w: signature record of %d bytes, want %d", ErrMalformed, len(b), signatureRecordLen)
	}
	r := &reader{b: b}
	if v := r.u8("version"); v != signatureVersion {
		return nil, fmt.Errorf("%w: signature record version %d", ErrMalformed, v)
	}
	s := &signatureRecord{epoch: r.u64("epoch")}
	s.authority = ed25519.PublicKey(bytes.Clone(r.take(ed25519KeyLen, "authority key")))
	r.copyInto(s.bodyHash[:], "body hash")
	s.sig = bytes.Clone(r.take(ed25519SigLen, "signature"))
	if err := r.done(); err != nil {
		return nil, err
	}
	return s, nil
}

func bodyHash(body []byte) [32]byte { return sha256.Sum256(body) }
