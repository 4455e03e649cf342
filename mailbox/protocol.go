package mailbox

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"

	"loam/mixnet"
	"loam/onion"
)

// Wire constants (SPEC.md §7.2).
const (
	protocolVersion = 1
	// IDLen is the length of a mailbox id: an Ed25519 public key.
	IDLen  = ed25519.PublicKeySize
	sigLen = ed25519.SignatureSize

	opDeposit byte = 0x01
	opFetch   byte = 0x02
	opDelete  byte = 0x03

	depositHeader = 1 + 1 + IDLen + 2 // version, op, id, blob length
	fetchLen      = 1 + 1 + IDLen + 8 + 1
	deleteLen     = 1 + 1 + IDLen + 8 + sigLen
	replyHeader   = 1 + 1 // version, status
	fetchHeader   = replyHeader + 8 + 8 + 1
	entryHeader   = 8 + 2 // seq, blob length

	labelDeposit = "loam mailbox deposit v1"
	labelDelete  = "loam mailbox delete v1"
	// ServiceName is the recipient name replicas serve.
	ServiceName = "mailbox"
)

// Status is a replica's answer code (SPEC.md §7.3).
type Status byte

// Status codes.
const (
	StatusOK           Status = 0
	StatusMalformed    Status = 1 // the request does not decode
	StatusUnauthorized Status = 2 // the capability signature does not verify
	StatusQuota        Status = 3 // the mailbox holds its limit
	StatusTooLarge     Status = 4 // the blob exceeds the replica's limit
	StatusUnavailable  Status = 5 // the replica's store failed; try another replica or later
)

func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusMalformed:
		return "malformed request"
	case StatusUnauthorized:
		return "not authorized: the capability signature does not verify"
	case StatusQuota:
		return "mailbox full: the replica's quota for this id is reached"
	case StatusTooLarge:
		return "blob too large"
	case StatusUnavailable:
		return "replica unavailable"
	}
	return fmt.Sprintf("status %d", byte(s))
}

// ErrMalformed is returned for requests and replies that do not decode.
var ErrMalformed = errors.New("mailbox: malformed message")

// ID names a mailbox: the public half of its capability.
type ID [IDLen]byte

func (id ID) String() string { return fmt.Sprintf("%x", id[:8]) }

// Capability is the right to deposit into and delete from a mailbox: its
// Ed25519 private key. The id is its public key. A read-only capability
// (ReadOnly) names a mailbox without the right to change it.
type Capability struct {
	key ed25519.PrivateKey
	id  ID // read-only capabilities: the id alone
}

// ReadOnly returns a capability that can fetch from mailbox id but neither
// deposit nor delete: what a reader of someone else's content holds.
func ReadOnly(id ID) Capability { return Capability{id: id} }

// CanWrite reports whether c holds the private key.
func (c Capability) CanWrite() bool { return c.key != nil }

// NewCapability makes the capability whose Ed25519 seed is seed; callers
// derive seeds from secrets they share (SPEC.md §9).
func NewCapability(seed [ed25519.SeedSize]byte) Capability {
	return Capability{key: ed25519.NewKeyFromSeed(seed[:])}
}

// ID is the mailbox this capability opens.
func (c Capability) ID() ID {
	if c.key == nil {
		return c.id
	}
	return ID(c.key.Public().(ed25519.PublicKey))
}

// MaxBlob is the largest blob a deposit can carry in geometry g.
func MaxBlob(g onion.Geometry) int {
	return mixnet.RequestBodyLen(g) - depositHeader - sigLen
}

// Request is a decoded mailbox request.
type Request struct {
	Op     byte
	ID     ID
	Blob   []byte // deposit
	Cursor uint64 // fetch: lowest sequence number wanted; delete: delete up to and including
	Max    int    // fetch: most entries wanted
}

// AppendDeposit appends a deposit of blob into c's mailbox, signed.
func AppendDeposit(b []byte, c Capability, blob []byte) []byte {
	id := c.ID()
	b = append(b, protocolVersion, opDeposit)
	b = append(b, id[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(blob)))
	b = append(b, blob...)
	return append(b, ed25519.Sign(c.key, signed(labelDeposit, id, blob))...)
}

// AppendFetch appends a fetch of up to max entries from cursor on.
func AppendFetch(b []byte, id ID, cursor uint64, max int) []byte {
	b = append(b, protocolVersion, opFetch)
	b = append(b, id[:]...)
	b = binary.BigEndian.AppendUint64(b, cursor)
	return append(b, byte(min(max, 255)))
}

// AppendDelete appends a deletion of every entry up to and including seq.
func AppendDelete(b []byte, c Capability, upTo uint64) []byte {
	id := c.ID()
	b = append(b, protocolVersion, opDelete)
	b = append(b, id[:]...)
	b = binary.BigEndian.AppendUint64(b, upTo)
	return append(b, ed25519.Sign(c.key, signed(labelDelete, id, binary.BigEndian.AppendUint64(nil, upTo)))...)
}

func signed(label string, id ID, body []byte) []byte {
	m := make([]byte, 0, len(label)+IDLen+len(body))
	m = append(m, label...)
	m = append(m, id[:]...)
	return append(m, body...)
}

// ParseRequest decodes a request body (trailing zero padding allowed, as
// the mixnet pads payloads) and verifies its capability signature. It
// returns the status a replica answers with when it fails.
func ParseRequest(b []byte) (*Request, Status) {
	if len(b) < 2+IDLen || b[0] != protocolVersion {
		return nil, StatusMalformed
	}
	r := &Request{Op: b[1]}
	copy(r.ID[:], b[2:])
	rest := b[2+IDLen:]
	switch r.Op {
	case opDeposit:
		if len(rest) < 2 {
			return nil, StatusMalformed
		}
		n := int(binary.BigEndian.Uint16(rest))
		if len(rest) < 2+n+sigLen || !allZero(rest[2+n+sigLen:]) {
			return nil, StatusMalformed
		}
		r.Blob = rest[2 : 2+n]
		sig := rest[2+n : 2+n+sigLen]
		if !ed25519.Verify(r.ID[:], signed(labelDeposit, r.ID, r.Blob), sig) {
			return nil, StatusUnauthorized
		}
	case opFetch:
		if len(rest) < 9 || !allZero(rest[9:]) {
			return nil, StatusMalformed
		}
		r.Cursor = binary.BigEndian.Uint64(rest)
		r.Max = int(rest[8])
		if r.Max == 0 {
			return nil, StatusMalformed
		}
	case opDelete:
		if len(rest) < 8+sigLen || !allZero(rest[8+sigLen:]) {
			return nil, StatusMalformed
		}
		r.Cursor = binary.BigEndian.Uint64(rest)
		if !ed25519.Verify(r.ID[:], signed(labelDelete, r.ID, rest[:8]), rest[8:8+sigLen]) {
			return nil, StatusUnauthorized
		}
	default:
		return nil, StatusMalformed
	}
	return r, StatusOK
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// Entry is one stored blob and its sequence number in its mailbox.
type Entry struct {
	Seq  uint64
	Blob []byte
}

// Reply is a decoded replica answer.
type Reply struct {
	Status Status
	// Deposit: the sequence number the blob has (a repeated deposit gets
	// the first one's).
	Seq uint64
	// Fetch: the entries, the cursor to continue from, and the sequence
	// number the next deposit will get.
	Entries []Entry
	Next    uint64
	Head    uint64
	// Delete: how many entries went.
	Deleted uint64
}

// AppendStatus appends a bare status reply (errors).
func AppendStatus(b []byte, s Status) []byte { return append(b, protocolVersion, byte(s)) }

// AppendDepositReply appends a successful deposit's answer.
func AppendDepositReply(b []byte, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(AppendStatus(b, StatusOK), seq)
}

// AppendDeleteReply appends a successful deletion's answer.
func AppendDeleteReply(b []byte, n uint64) []byte {
	return binary.BigEndian.AppendUint64(AppendStatus(b, StatusOK), n)
}

// AppendFetchReply appends a fetch answer holding as many of entries, in
// order, as fit in limit bytes; it returns the cursor that follows the last
// one included.
func AppendFetchReply(b []byte, limit int, cursor, head uint64, entries []Entry) ([]byte, uint64) {
	n, size := 0, fetchHeader
	for _, e := range entries {
		if size+entryHeader+len(e.Blob) > limit || n == 255 {
			break
		}
		size += entryHeader + len(e.Blob)
		n++
	}
	next := cursor
	if n > 0 {
		next = entries[n-1].Seq + 1
	}
	b = AppendStatus(b, StatusOK)
	b = binary.BigEndian.AppendUint64(b, next)
	b = binary.BigEndian.AppendUint64(b, head)
	b = append(b, byte(n))
	for _, e := range entries[:n] {
		b = binary.BigEndian.AppendUint64(b, e.Seq)
		b = binary.BigEndian.AppendUint16(b, uint16(len(e.Blob)))
		b = append(b, e.Blob...)
	}
	return b, next
}

// ParseReply decodes the answer to a request of kind op (trailing zero
// padding allowed).
func ParseReply(op byte, b []byte) (*Reply, error) {
	if len(b) < replyHeader || b[0] != protocolVersion {
		return nil, ErrMalformed
	}
	r := &Reply{Status: Status(b[1])}
	rest := b[replyHeader:]
	if r.Status != StatusOK {
		if r.Status > StatusUnavailable || !allZero(rest) {
			return nil, ErrMalformed
		}
		return r, nil
	}
	switch op {
	case opDeposit, opDelete:
		if len(rest) < 8 || !allZero(rest[8:]) {
			return nil, ErrMalformed
		}
		if op == opDeposit {
			r.Seq = binary.BigEndian.Uint64(rest)
		} else {
			r.Deleted = binary.BigEndian.Uint64(rest)
		}
	case opFetch:
		if len(rest) < 17 {
			return nil, ErrMalformed
		}
		r.Next = binary.BigEndian.Uint64(rest)
		r.Head = binary.BigEndian.Uint64(rest[8:])
		n := int(rest[16])
		rest = rest[17:]
		last := uint64(0)
		for i := range n {
			if len(rest) < entryHeader {
				return nil, ErrMalformed
			}
			e := Entry{Seq: binary.BigEndian.Uint64(rest)}
			l := int(binary.BigEndian.Uint16(rest[8:]))
			if len(rest) < entryHeader+l || (i > 0 && e.Seq <= last) {
				return nil, ErrMalformed
			}
			e.Blob = append([]byte(nil), rest[entryHeader:entryHeader+l]...)
			last = e.Seq
			r.Entries = append(r.Entries, e)
			rest = rest[entryHeader+l:]
		}
		if !allZero(rest) || (n > 0 && r.Next != last+1) {
			return nil, ErrMalformed
		}
	default:
		return nil, ErrMalformed
	}
	return r, nil
}
