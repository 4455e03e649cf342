package feed

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"
	"unicode/utf8"
)

// Entries (SPEC.md §9.6). An entry is encoded once, deterministically:
//
//	entry = 0x01 ‖ author (32) ‖ u64(time, ms since 1970) ‖ u32(len text) ‖ text ‖
//	        u8(n) ‖ n × (u8(len name) ‖ name ‖ u8(len type) ‖ type ‖ u32(len data) ‖ data)
//	sig   = Ed25519(author, "loam feed entry v1" ‖ entry)
//	id    = SHA-256("loam feed entry id v1" ‖ entry)
//
// and travels as the content message entry ‖ sig. A decoder accepts
// exactly the encodings the encoder makes, so the bytes a signature covers
// have one meaning.

// EntryID names an entry: a hash of its encoding.
type EntryID [32]byte

func (id EntryID) String() string { return hex.EncodeToString(id[:]) }

// Entry is one post.
type Entry struct {
	ID          EntryID
	Author      Public
	Time        time.Time // the author's clock, to the millisecond
	Text        string
	Attachments []Attachment
}

// Attachment is a file a post carries, usually a photo.
type Attachment struct {
	Name string // file name, UTF-8
	Type string // media type, such as "image/jpeg"
	Data []byte
}

// Size is the bytes of all attachments' data.
func attachmentBytes(atts []Attachment) int {
	n := 0
	for _, a := range atts {
		n += len(a.Data)
	}
	return n
}

// checkEntryFields applies the field rules of SPEC.md §9.6.
func checkEntryFields(ms int64, text string, atts []Attachment) error {
	switch {
	case ms < 0:
		return fmt.Errorf("%w: a time before 1970", ErrInvalid)
	case len(text) > MaxTextLen:
		return fmt.Errorf("%w: text of %d bytes exceeds %d", ErrInvalid, len(text), MaxTextLen)
	case !utf8.ValidString(text):
		return fmt.Errorf("%w: the text is not UTF-8", ErrInvalid)
	case len(atts) > MaxAttachments:
		return fmt.Errorf("%w: %d attachments, at most %d", ErrInvalid, len(atts), MaxAttachments)
	case attachmentBytes(atts) > MaxAttachmentBytes:
		return fmt.Errorf("%w: attachments of %d bytes exceed %d (5 MiB)", ErrInvalid, attachmentBytes(atts), MaxAttachmentBytes)
	}
	for i, a := range atts {
		if len(a.Name) == 0 || len(a.Name) > MaxAttachmentNameLen || !utf8.ValidString(a.Name) {
			return fmt.Errorf("%w: attachment %d: a name is 1 to %d bytes of UTF-8", ErrInvalid, i, MaxAttachmentNameLen)
		}
		if len(a.Type) == 0 || len(a.Type) > MaxMediaTypeLen || !printableASCII(a.Type) {
			return fmt.Errorf("%w: attachment %d: a media type is 1 to %d printable ASCII characters", ErrInvalid, i, MaxMediaTypeLen)
		}
	}
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// encodeEntry encodes an entry's fields after checking them.
func encodeEntry(author [keyLen]byte, t time.Time, text string, atts []Attachment) ([]byte, error) {
	ms := t.UnixMilli()
	if err := checkEntryFields(ms, text, atts); err != nil {
		return nil, err
	}
	b := make([]byte, 0, entryFixedLen+len(text)+attachmentBytes(atts)+len(atts)*(6+MaxAttachmentNameLen))
	b = append(b, versionEntry)
	b = append(b, author[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(ms))
	b = binary.BigEndian.AppendUint32(b, uint32(len(text)))
	b = append(b, text...)
	b = append(b, byte(len(atts)))
	for _, a := range atts {
		b = append(b, byte(len(a.Name)))
		b = append(b, a.Name...)
		b = append(b, byte(len(a.Type)))
		b = append(b, a.Type...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(a.Data)))
		b = append(b, a.Data...)
	}
	return b, nil
}

// decodeEntry decodes an encoded entry; the author's name is unknown here
// and left empty.
func decodeEntry(b []byte) (*Entry, error) {
	r := reader{b: b}
	if v := r.u8(); v != versionEntry {
		return nil, fmt.Errorf("%w: entry version %d", ErrMalformed, v)
	}
	e := &Entry{}
	copy(e.Author.Sign[:], r.bytes(keyLen))
	ms := r.u64()
	text := r.bytes(int(min(r.u32(), MaxTextLen+1)))
	n := int(r.u8())
	if r.bad || ms > 1<<63-1 || n > MaxAttachments {
		return nil, fmt.Errorf("%w: entry", ErrMalformed)
	}
	e.Time = time.UnixMilli(int64(ms))
	e.Text = string(text)
	for range n {
		var a Attachment
		a.Name = string(r.bytes(int(r.u8())))
		a.Type = string(r.bytes(int(r.u8())))
		a.Data = r.bytes(int(min(r.u32(), MaxAttachmentBytes+1)))
		if r.bad {
			return nil, fmt.Errorf("%w: entry attachment", ErrMalformed)
		}
		e.Attachments = append(e.Attachments, a)
	}
	if r.bad || len(r.b) != 0 {
		return nil, fmt.Errorf("%w: entry length", ErrMalformed)
	}
	if err := checkEntryFields(int64(ms), e.Text, e.Attachments); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	e.ID = entryID(b)
	return e, nil
}

func entrySigInput(entry []byte) []byte {
	m := make([]byte, 0, len(labelEntrySig)+len(entry))
	m = append(m, labelEntrySig...)
	return append(m, entry...)
}

func entryID(entry []byte) EntryID {
	h := sha256.New()
	h.Write([]byte(labelEntryID))
	h.Write(entry)
	var id EntryID
	h.Sum(id[:0])
	return id
}

// openContent decodes a content message (entry ‖ sig) and verifies that
// author signed it; the entry's author must be author.
func openContent(msg []byte, author Public) (*Entry, error) {
	if len(msg) < sigLen || len(msg) > maxContentLen {
		return nil, fmt.Errorf("%w: content of %d bytes", ErrMalformed, len(msg))
	}
	raw, sig := msg[:len(msg)-sigLen], msg[len(msg)-sigLen:]
	e, err := decodeEntry(raw)
	if err != nil {
		return nil, err
	}
	if e.Author.Sign != author.Sign || !ed25519.Verify(author.Sign[:], entrySigInput(raw), sig) {
		return nil, fmt.Errorf("%w: entry %v is not signed by %v", ErrBadSignature, e.ID, author)
	}
	e.Author = author
	return e, nil
}

// reader consumes a byte string front to back; a read past the end sets
// bad and returns zeros.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) bytes(n int) []byte {
	if r.bad || n < 0 || n > len(r.b) {
		r.bad = true
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() byte {
	b := r.bytes(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (r *reader) u32() uint32 {
	b := r.bytes(4)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

func (r *reader) u64() uint64 {
	b := r.bytes(8)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func (r *reader) array32() (a [keyLen]byte) {
	copy(a[:], r.bytes(keyLen))
	return a
}
