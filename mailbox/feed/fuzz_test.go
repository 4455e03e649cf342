package feed

import (
	"bytes"
	"testing"
	"time"
)

// Fuzz targets, one per decoder of outside or stored bytes. Each checks
// that what decodes re-encodes to the same bytes, so every accepted input
// has one meaning. Seeds run under plain go test.

func FuzzParseFriendCode(f *testing.F) {
	f.Add(fixedIdentity(f, 7, "Alice").FriendCode())
	f.Add(fixedIdentity(f, 9, "Bob Ølsen").FriendCode())
	f.Add("loam1")
	f.Add("LOAM1-QQQQQ")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseFriendCode(s)
		if err != nil {
			return
		}
		if normalise(p.FriendCode()) != normalise(s) {
			t.Fatalf("%q decodes to %+v, which encodes as %q", s, p, p.FriendCode())
		}
	})
}

func entrySeeds(f *testing.F) [][]byte {
	a := fixedIdentity(f, 3, "Ann")
	var out [][]byte
	for _, atts := range [][]Attachment{nil, {{"a.jpg", "image/jpeg", []byte{1, 2, 3}}, {"b", "t/p", nil}}} {
		raw, err := encodeEntry(a.pub.Sign, time.UnixMilli(1_700_000_000_000), "hello, world", atts)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, append(raw, a.signEntry(raw)...))
	}
	return out
}

func FuzzOpenContent(f *testing.F) {
	a := fixedIdentity(f, 3, "Ann")
	for _, s := range entrySeeds(f) {
		f.Add(s)
		f.Add(s[:len(s)-sigLen])
	}
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		if e, err := decodeEntry(b); err == nil {
			again, err := encodeEntry(e.Author.Sign, e.Time, e.Text, e.Attachments)
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("an entry decodes but does not re-encode to itself (%v)", err)
			}
		}
		if e, err := openContent(b, a.Public()); err == nil && e.Author != a.Public() {
			t.Fatal("content opens with another author")
		}
	})
}

func FuzzDecodeHeader(f *testing.F) {
	h := header{Box: [32]byte{1}, Key: [32]byte{2}, Entry: EntryID{3}, Size: 5000}
	f.Add(h.encode())
	f.Add([]byte{1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, err := decodeHeader(b); err == nil && !bytes.Equal(h.encode(), b) {
			t.Fatal("a header decodes but does not re-encode to itself")
		}
	})
}

func FuzzDecodeIdentity(f *testing.F) {
	f.Add(encodeIdentity(fixedIdentity(f, 5, "Eve")))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		if id, err := decodeIdentity(b); err == nil && !bytes.Equal(encodeIdentity(id), b) {
			t.Fatal("an identity decodes but does not re-encode to itself")
		}
	})
}

func FuzzDecodeFriend(f *testing.F) {
	p := fixedIdentity(f, 5, "Eve").Public()
	f.Add(encodeFriend(&friend{Public: p, Next: 12345, Added: time.UnixMilli(1_700_000_000_000)}))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		if fr, err := decodeFriend(b); err == nil && !bytes.Equal(encodeFriend(fr), b) {
			t.Fatal("a friend record decodes but does not re-encode to itself")
		}
	})
}

func FuzzDecodeEntryRecord(f *testing.F) {
	for _, s := range entrySeeds(f) {
		f.Add(encodeEntryRecord(time.UnixMilli(1_700_000_000_000), s), s)
	}
	f.Add([]byte{1}, []byte{})
	f.Fuzz(func(t *testing.T, b, content []byte) {
		// The id the key would name: that of the content's entry, if any.
		var id EntryID
		if len(content) > sigLen {
			id = entryID(content[:len(content)-sigLen])
		}
		if e, err := decodeEntryRecord(b, id); err == nil && e.ID != id {
			t.Fatal("an entry record decodes under another id")
		}
	})
}

func FuzzDecodeHeaderRecord(f *testing.F) {
	h := header{Box: [32]byte{1}, Key: [32]byte{2}, Entry: EntryID{3}, Size: 5000}
	f.Add(encodeHeaderRecord(time.UnixMilli(1_700_000_000_000), &h))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		if at, h, err := decodeHeaderRecord(b); err == nil && !bytes.Equal(encodeHeaderRecord(at, h), b) {
			t.Fatal("a header record decodes but does not re-encode to itself")
		}
	})
}

func FuzzDecodeOwnPost(f *testing.F) {
	seed, k := [32]byte{1}, [32]byte{2}
	f.Add(encodeOwnPost(&seed, &k))
	f.Fuzz(func(t *testing.T, b []byte) {
		if box, err := decodeOwnPost(b); err == nil && (box.Key != [32]byte(b[1+keyLen:]) || !box.Cap.CanWrite()) {
			t.Fatal("an own post record decodes to another box")
		}
	})
}

func FuzzDecodeSaltFile(f *testing.F) {
	f.Add(encodeSaltFile(kdfParams{time: 3, memory: 64 << 10, threads: 4}, make([]byte, saltLen)))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, salt, err := decodeSaltFile(b); err == nil && !bytes.Equal(encodeSaltFile(p, salt), b) {
			t.Fatal("a salt file decodes but does not re-encode to itself")
		}
	})
}
