package feed

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func drawAttachments(t *rapid.T) []Attachment {
	n := rapid.IntRange(0, 4).Draw(t, "attachments")
	out := make([]Attachment, n)
	for i := range out {
		out[i] = Attachment{
			Name: rapid.StringMatching(`[a-zé0-9_.]{1,20}`).Draw(t, "name"),
			Type: rapid.SampledFrom([]string{"image/jpeg", "image/png", "text/plain; charset=utf-8"}).Draw(t, "type"),
			Data: rapid.SliceOfN(rapid.Byte(), 0, 2000).Draw(t, "data"),
		}
	}
	return out
}

func TestEntryRoundTrip(t *testing.T) {
	author := fixedIdentity(t, 3, "Ann")
	rapid.Check(t, func(rt *rapid.T) {
		when := time.UnixMilli(rapid.Int64Range(0, 1<<50).Draw(rt, "ms"))
		text := rapid.String().Filter(func(s string) bool { return len(s) <= MaxTextLen }).Draw(rt, "text")
		atts := drawAttachments(rt)
		raw, err := encodeEntry(author.pub.Sign, when, text, atts)
		if err != nil {
			rt.Fatal(err)
		}
		content := append(raw, author.signEntry(raw)...)
		e, err := openContent(content, author.Public())
		if err != nil {
			rt.Fatal(err)
		}
		if !e.Time.Equal(when) || e.Text != text || len(e.Attachments) != len(atts) || e.Author != author.Public() {
			rt.Fatalf("decoded %+v", e)
		}
		for i, a := range atts {
			g := e.Attachments[i]
			if g.Name != a.Name || g.Type != a.Type || !bytes.Equal(g.Data, a.Data) {
				rt.Fatalf("attachment %d differs", i)
			}
		}
		again, _ := encodeEntry(e.Author.Sign, e.Time, e.Text, e.Attachments)
		if !bytes.Equal(again, raw) || e.ID != entryID(raw) {
			rt.Fatal("the encoding is not deterministic")
		}
	})
}

// TestEntrySignatures: only an entry signed by the friend it is checked
// against, naming that friend as author, and unaltered, opens.
func TestEntrySignatures(t *testing.T) {
	alice, mallory := newIdentity(t, "Alice"), newIdentity(t, "Mallory")
	raw, err := encodeEntry(alice.pub.Sign, time.Now(), "hello", []Attachment{{Name: "a.jpg", Type: "image/jpeg", Data: []byte{1, 2, 3}}})
	if err != nil {
		t.Fatal(err)
	}
	good := append(bytes.Clone(raw), alice.signEntry(raw)...)
	if _, err := openContent(good, alice.Public()); err != nil {
		t.Fatalf("a good entry: %v", err)
	}
	// Signed by someone else, claiming Alice as author.
	forged := append(bytes.Clone(raw), mallory.signEntry(raw)...)
	if _, err := openContent(forged, alice.Public()); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("an entry Mallory signed for Alice: %v", err)
	}
	// Mallory's own entry, validly signed, arriving where Alice's should.
	mraw, _ := encodeEntry(mallory.pub.Sign, time.Now(), "hello", nil)
	mine := append(mraw, mallory.signEntry(mraw)...)
	if _, err := openContent(mine, alice.Public()); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("Mallory's entry checked against Alice: %v", err)
	}
	// Every single bit flipped anywhere breaks it.
	for i := range len(good) * 8 {
		bad := bytes.Clone(good)
		bad[i/8] ^= 1 << (i % 8)
		if _, err := openContent(bad, alice.Public()); err == nil {
			t.Fatalf("bit %d flipped: accepted", i)
		}
	}
	// A signature over the unlabelled bytes does not verify.
	unlabelled := append(bytes.Clone(raw), signRaw(alice, raw)...)
	if _, err := openContent(unlabelled, alice.Public()); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("a signature without the label: %v", err)
	}
}

func signRaw(id *Identity, msg []byte) []byte {
	return ed25519Sign(id, msg)
}

func TestEntryLimits(t *testing.T) {
	author := fixedIdentity(t, 3, "Ann")
	now := time.Now()
	big := make([]byte, MaxAttachmentBytes/2+1)
	for name, c := range map[string]struct {
		text string
		atts []Attachment
	}{
		"text too long":       {strings.Repeat("x", MaxTextLen+1), nil},
		"text not UTF-8":      {"\xff", nil},
		"attachments > 5 MiB": {"", []Attachment{{"a", "image/png", big}, {"b", "image/png", big}}},
		"too many":            {"", make([]Attachment, MaxAttachments+1)},
		"no name":             {"", []Attachment{{"", "image/png", nil}}},
		"no type":             {"", []Attachment{{"a", "", nil}}},
		"type not ASCII":      {"", []Attachment{{"a", "image/pñg", nil}}},
		"name too long":       {"", []Attachment{{strings.Repeat("n", 256), "image/png", nil}}},
	} {
		if _, err := encodeEntry(author.pub.Sign, now, c.text, c.atts); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	// Exactly at the limits is fine.
	atts := []Attachment{{"a", "image/png", make([]byte, MaxAttachmentBytes)}}
	raw, err := encodeEntry(author.pub.Sign, now, strings.Repeat("x", MaxTextLen), atts)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw)+sigLen > maxContentLen {
		t.Fatalf("an entry at the limits is %d bytes, over maxContentLen", len(raw))
	}
	if _, err := decodeEntry(raw); err != nil {
		t.Fatal(err)
	}
}

func TestEntryDecodeRejects(t *testing.T) {
	author := fixedIdentity(t, 3, "Ann")
	raw, _ := encodeEntry(author.pub.Sign, time.UnixMilli(5), "hi", []Attachment{{"a", "t/x", []byte("zz")}})
	for name, b := range map[string][]byte{
		"empty":          nil,
		"version 2":      append([]byte{2}, raw[1:]...),
		"trailing byte":  append(bytes.Clone(raw), 0),
		"truncated":      raw[:len(raw)-1],
		"text length +1": withByte(raw, 1+keyLen+8+3, raw[1+keyLen+8+3]+1),
		"count +1":       withByte(raw, entryFixedLen-1+2, raw[entryFixedLen-1+2]+1),
		"time ≥ 2^63":    withByte(raw, 1+keyLen, 0x80),
	} {
		if _, err := decodeEntry(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

func withByte(b []byte, i int, v byte) []byte {
	b = bytes.Clone(b)
	b[i] = v
	return b
}

func TestHeaderRoundTrip(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		var h header
		copy(h.Box[:], rapid.SliceOfN(rapid.Byte(), keyLen, keyLen).Draw(rt, "box"))
		copy(h.Key[:], rapid.SliceOfN(rapid.Byte(), keyLen, keyLen).Draw(rt, "key"))
		copy(h.Entry[:], rapid.SliceOfN(rapid.Byte(), keyLen, keyLen).Draw(rt, "entry"))
		h.Size = rapid.IntRange(entryFixedLen+sigLen, maxContentLen).Draw(rt, "size")
		b := h.encode()
		if len(b) != headerLen {
			rt.Fatalf("%d bytes", len(b))
		}
		got, err := decodeHeader(b)
		if err != nil || *got != h {
			rt.Fatalf("%v %+v", err, got)
		}
	})
	h := header{Size: maxContentLen + 1}
	if _, err := decodeHeader(h.encode()); !errors.Is(err, ErrMalformed) {
		t.Fatal("a header naming oversized content decodes")
	}
	h.Size = 100
	b := h.encode()
	for name, bad := range map[string][]byte{
		"kind 2":   withByte(b, 1, 2),
		"version":  withByte(b, 0, 2),
		"short":    b[:len(b)-1],
		"trailing": append(bytes.Clone(b), 0),
	} {
		if _, err := decodeHeader(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
