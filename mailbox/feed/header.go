package feed

import (
	"encoding/binary"
	"fmt"

	"loam/mailbox"
)

// A header (SPEC.md §9.7) is the message a friend gets in the pairwise
// mailbox for each post: what they need to fetch and check the content.
//
//	header = 0x01 ‖ 0x01 (kind: entry) ‖ content box id (32) ‖ content box key (32) ‖
//	         entry id (32) ‖ u32(content length)
type header struct {
	Box   mailbox.ID
	Key   [keyLen]byte
	Entry EntryID
	Size  int // bytes of the content message: entry ‖ signature
}

func (h *header) encode() []byte {
	b := make([]byte, 0, headerLen)
	b = append(b, versionHeader, headerKindEntry)
	b = append(b, h.Box[:]...)
	b = append(b, h.Key[:]...)
	b = append(b, h.Entry[:]...)
	return binary.BigEndian.AppendUint32(b, uint32(h.Size))
}

func decodeHeader(b []byte) (*header, error) {
	if len(b) != headerLen || b[0] != versionHeader || b[1] != headerKindEntry {
		return nil, fmt.Errorf("%w: header", ErrMalformed)
	}
	r := reader{b: b[2:]}
	h := &header{Box: mailbox.ID(r.array32()), Key: r.array32(), Entry: EntryID(r.array32()), Size: int(r.u32())}
	if h.Size < entryFixedLen+sigLen || h.Size > maxContentLen {
		return nil, fmt.Errorf("%w: header names content of %d bytes", ErrMalformed, h.Size)
	}
	return h, nil
}
