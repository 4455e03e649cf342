package mailbox

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"loam/onion"
)

// rebuild feeds fragments to a fresh assembly in the given order and opens
// the message once it is complete.
func rebuild(t *testing.T, box *Box, blobs [][]byte) ([]byte, error) {
	t.Helper()
	var a assembly
	for _, b := range blobs {
		f, err := parseFragment(b)
		if err != nil {
			t.Fatal(err)
		}
		_, macKey := messageKeys(&box.Key, f.id)
		if !f.authentic(&macKey) {
			t.Fatal("an honest fragment failed authentication")
		}
		if a.add(f) {
			return a.open(&box.Key, f.id)
		}
	}
	return nil, errIncomplete
}

var errIncomplete = bytesError("incomplete")

type bytesError string

func (e bytesError) Error() string { return string(e) }

// TestReassembly: shuffled, duplicated, and with up to m fragments missing,
// a message comes back whole; with m+1 missing it does not.
func TestReassembly(t *testing.T) {
	g := onion.DefaultGeometry
	box := newBox(t)
	for _, size := range []int{0, 1, 1000, ShardLen(g) * 3, 200 << 10, 600 << 10} {
		msg := randomBytes(size)
		coded, err := Fragments(g, box, msg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if coded.M != Parity(coded.K) || len(coded.Blobs) != coded.K+coded.M {
			t.Fatalf("%d bytes: k=%d m=%d, %d blobs", size, coded.K, coded.M, len(coded.Blobs))
		}
		for _, b := range coded.Blobs {
			if len(b) > MaxBlob(g) {
				t.Fatalf("fragment of %d bytes exceeds a deposit", len(b))
			}
		}
		order := rand.Perm(len(coded.Blobs))
		missing := map[int]bool{}
		for _, i := range order[:coded.M] {
			missing[i] = true
		}
		var feed [][]byte
		for _, i := range order {
			if !missing[i] {
				feed = append(feed, coded.Blobs[i], coded.Blobs[i]) // each twice
			}
		}
		got, err := rebuild(t, box, feed)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("%d bytes, %d missing of %d: %v", size, coded.M, len(coded.Blobs), err)
		}
		short := feed[2:] // one more fragment missing
		if _, err := rebuild(t, box, short); err != errIncomplete {
			t.Fatalf("%d bytes: rebuilt with m+1 fragments missing", size)
		}
	}
}

func TestFragmentsAuthenticated(t *testing.T) {
	g := onion.DefaultGeometry
	box := newBox(t)
	coded, err := Fragments(g, box, randomBytes(5000), nil)
	if err != nil {
		t.Fatal(err)
	}
	b := bytes.Clone(coded.Blobs[0])
	b[fragHeaderLen+3] ^= 1 // a replica alters a shard byte
	f, err := parseFragment(b)
	if err != nil {
		t.Fatal(err)
	}
	_, macKey := messageKeys(&box.Key, f.id)
	if f.authentic(&macKey) {
		t.Fatal("an altered fragment passed authentication")
	}
	other := newBox(t)
	_, otherMAC := messageKeys(&other.Key, f.id)
	f, _ = parseFragment(coded.Blobs[1])
	if f.authentic(&otherMAC) {
		t.Fatal("a fragment authenticated under another box's key")
	}
}

func TestParityChoice(t *testing.T) {
	for k, want := range map[int]int{1: 1, 2: 1, 4: 1, 5: 2, 8: 2, 9: 3, 100: 25} {
		if got := Parity(k); got != want {
			t.Errorf("Parity(%d) = %d, want %d", k, got, want)
		}
	}
	g := onion.DefaultGeometry
	coded, err := Fragments(g, newBox(t), randomBytes(10000), func(k int) int { return (k + 1) / 2 })
	if err != nil || coded.M != (coded.K+1)/2 {
		t.Fatalf("custom parity: %v", err)
	}
}

func FuzzParseFragment(f *testing.F) {
	coded, _ := Fragments(onion.DefaultGeometry, newBox(f), []byte("seed message"), nil)
	f.Add(coded.Blobs[0])
	f.Add(coded.Blobs[1][:30])
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := parseFragment(b)
		if err != nil {
			return
		}
		if fr.index >= fr.k+fr.m || len(fr.shard)%shardAlign != 0 {
			t.Fatal("an inconsistent fragment parsed")
		}
		var a assembly
		a.add(fr)
	})
}
