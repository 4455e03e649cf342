package feed

import (
	"encoding/binary"
	"fmt"
	"time"

	"loam/mailbox"
)

// Local store layout (SPEC.md §9.10). Keys are a one-byte kind and fixed-
// length fields; every value starts with the record version 0x01.
const (
	kindSchema    byte = 'v' // "v" → 0x01
	kindIdentity  byte = 'i' // "i" → identity
	kindFriend    byte = 'f' // "f" ‖ sign (32) → friend
	kindEntry     byte = 'e' // "e" ‖ entry id (32) → stored entry
	kindTimeline  byte = 't' // "t" ‖ u64(time ms) ‖ entry id (32) → empty
	kindDelivered byte = 'd' // "d" ‖ u64(epoch) ‖ mailbox id (32) ‖ message id (16) → empty
	kindPending   byte = 'h' // "h" ‖ friend sign (32) ‖ entry id (32) → header awaiting its content
	kindOutbox    byte = 'o' // "o" ‖ friend sign (32) ‖ entry id (32) → header awaiting sending
	kindOwnPost   byte = 'p' // "p" ‖ entry id (32) → content box of one's own post

	schemaVersion = 1
)

func key(kind byte, parts ...[]byte) []byte {
	k := []byte{kind}
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// identity record: 0x01 ‖ sign seed (32) ‖ dh private key (32) ‖ u8(len name) ‖ name
func encodeIdentity(id *Identity) []byte {
	b := []byte{versionRecord}
	b = append(b, id.signSeed[:]...)
	b = append(b, id.dhPriv[:]...)
	b = append(b, byte(len(id.pub.Name)))
	return append(b, id.pub.Name...)
}

func decodeIdentity(b []byte) (*Identity, error) {
	r := reader{b: b}
	v := r.u8()
	signSeed, dhPriv := r.array32(), r.array32()
	defer clear(signSeed[:])
	defer clear(dhPriv[:])
	name := string(r.bytes(int(r.u8())))
	if r.bad || v != versionRecord || len(r.b) != 0 {
		return nil, fmt.Errorf("%w: the identity record does not decode", ErrCorrupt)
	}
	id, err := identityFromKeys(&signSeed, &dhPriv, name)
	if err != nil {
		return nil, fmt.Errorf("%w: the identity record: %w", ErrCorrupt, err)
	}
	return id, nil
}

// friend is what the store keeps of a friend.
type friend struct {
	Public
	Next  Epoch     // the first mailbox epoch the next sync reads
	Added time.Time // to the millisecond
}

// friend record: 0x01 ‖ sign (32) ‖ dh (32) ‖ u8(len name) ‖ name ‖ u64(next epoch) ‖ u64(added, ms)
func encodeFriend(f *friend) []byte {
	b := []byte{versionRecord}
	b = append(b, f.Sign[:]...)
	b = append(b, f.DH[:]...)
	b = append(b, byte(len(f.Name)))
	b = append(b, f.Name...)
	b = binary.BigEndian.AppendUint64(b, uint64(f.Next))
	return binary.BigEndian.AppendUint64(b, uint64(f.Added.UnixMilli()))
}

func decodeFriend(b []byte) (*friend, error) {
	r := reader{b: b}
	v := r.u8()
	f := &friend{}
	f.Sign, f.DH = r.array32(), r.array32()
	f.Name = string(r.bytes(int(r.u8())))
	f.Next = Epoch(r.u64())
	added := r.u64()
	if r.bad || v != versionRecord || len(r.b) != 0 || added > 1<<63-1 || validName(f.Name) != nil {
		return nil, fmt.Errorf("%w: a friend record does not decode", ErrCorrupt)
	}
	f.Added = time.UnixMilli(int64(added))
	return f, nil
}

// entry record: 0x01 ‖ u64(received, ms) ‖ content message (entry ‖ sig)
func encodeEntryRecord(received time.Time, content []byte) []byte {
	b := make([]byte, 0, 9+len(content))
	b = append(b, versionRecord)
	b = binary.BigEndian.AppendUint64(b, uint64(received.UnixMilli()))
	return append(b, content...)
}

// decodeEntryRecord decodes a stored entry; id is the id its key names,
// which the content must hash to. The signature was checked when the entry
// was stored.
func decodeEntryRecord(b []byte, id EntryID) (*Entry, error) {
	if len(b) < 9+sigLen || b[0] != versionRecord {
		return nil, fmt.Errorf("%w: entry %v does not decode", ErrCorrupt, id)
	}
	content := b[9:]
	e, err := decodeEntry(content[:len(content)-sigLen])
	if err != nil || e.ID != id {
		return nil, fmt.Errorf("%w: entry %v does not decode", ErrCorrupt, id)
	}
	return e, nil
}

// header record (pending and outbox): 0x01 ‖ u64(at, ms) ‖ header (102)
func encodeHeaderRecord(at time.Time, h *header) []byte {
	b := []byte{versionRecord}
	b = binary.BigEndian.AppendUint64(b, uint64(at.UnixMilli()))
	return append(b, h.encode()...)
}

func decodeHeaderRecord(b []byte) (time.Time, *header, error) {
	if len(b) != 9+headerLen || b[0] != versionRecord || binary.BigEndian.Uint64(b[1:]) > 1<<63-1 {
		return time.Time{}, nil, fmt.Errorf("%w: a header record does not decode", ErrCorrupt)
	}
	h, err := decodeHeader(b[9:])
	if err != nil {
		return time.Time{}, nil, fmt.Errorf("%w: a header record: %w", ErrCorrupt, err)
	}
	return time.UnixMilli(int64(binary.BigEndian.Uint64(b[1:]))), h, nil
}

// own post record: 0x01 ‖ content box capability seed (32) ‖ content box key (32)
func encodeOwnPost(seed, key *[keyLen]byte) []byte {
	b := []byte{versionRecord}
	b = append(b, seed[:]...)
	return append(b, key[:]...)
}

func decodeOwnPost(b []byte) (*mailbox.Box, error) {
	if len(b) != 1+2*keyLen || b[0] != versionRecord {
		return nil, fmt.Errorf("%w: an own post record does not decode", ErrCorrupt)
	}
	var seed [keyLen]byte
	defer clear(seed[:])
	copy(seed[:], b[1:])
	box := &mailbox.Box{Cap: mailbox.NewCapability(seed)}
	copy(box.Key[:], b[1+keyLen:])
	return box, nil
}

func beUint64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }
