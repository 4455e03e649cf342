package feed

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"loam/internal/vectors"
	"loam/mailbox"
)

// Regenerate with: go test ./mailbox/feed -run TestVectors -update
const vectorsPath = "testdata/vectors.json"

type hexBytes = vectors.Hex

type vectorParty struct {
	Name       string   `json:"name"`
	SignSeed   hexBytes `json:"sign_seed"`
	DHPrivate  hexBytes `json:"dh_private"`
	SignPublic hexBytes `json:"sign_public"`
	DHPublic   hexBytes `json:"dh_public"`
	FriendCode string   `json:"friend_code"`
}

type vectorMailbox struct {
	From    string   `json:"from"`
	To      string   `json:"to"`
	Epoch   uint64   `json:"epoch"`
	CapSeed hexBytes `json:"capability_seed"`
	ID      hexBytes `json:"mailbox_id"`
	Key     hexBytes `json:"box_key"`
}

type vectorFile struct {
	Comment    string          `json:"comment"`
	Parties    []vectorParty   `json:"parties"`
	PairSecret hexBytes        `json:"pair_secret"`
	Mailboxes  []vectorMailbox `json:"mailboxes"`
	Entry      struct {
		TimeMS      int64    `json:"time_ms"`
		Text        string   `json:"text"`
		AttName     string   `json:"attachment_name"`
		AttType     string   `json:"attachment_type"`
		AttData     hexBytes `json:"attachment_data"`
		Encoding    hexBytes `json:"entry"`
		SignedBytes hexBytes `json:"signature_input"`
		Signature   hexBytes `json:"signature"`
		ID          hexBytes `json:"entry_id"`
	} `json:"entry"`
	Header struct {
		BoxSeed  hexBytes `json:"content_capability_seed"`
		BoxID    hexBytes `json:"content_box_id"`
		BoxKey   hexBytes `json:"content_box_key"`
		Size     int      `json:"content_length"`
		Encoding hexBytes `json:"header"`
	} `json:"header"`
}

func generateVectors(t *testing.T) *vectorFile {
	v := &vectorFile{Comment: "Loam feed test vectors (SPEC.md §9); party keys are bytes repeated: Alice 0x01/0x02, Bob 0x03/0x04. Regenerate with go test ./mailbox/feed -run TestVectors -update"}
	alice, bob := fixedIdentity(t, 1, "Alice"), fixedIdentity(t, 3, "Bob")
	for _, id := range []*Identity{alice, bob} {
		v.Parties = append(v.Parties, vectorParty{Name: id.Name(), SignSeed: id.signSeed[:], DHPrivate: id.dhPriv[:],
			SignPublic: id.pub.Sign[:], DHPublic: id.pub.DH[:], FriendCode: id.FriendCode()})
	}
	pair, err := pairSecret(alice, bob.Public())
	if err != nil {
		t.Fatal(err)
	}
	v.PairSecret = pair[:]
	for _, e := range []Epoch{0, 1, 82_000} {
		for _, dir := range [][2]*Identity{{alice, bob}, {bob, alice}} {
			seed := deriveMailbox(&pair, labelMailboxCap, dir[0].pub.Sign, dir[1].pub.Sign, e)
			box := pairMailbox(&pair, dir[0].pub.Sign, dir[1].pub.Sign, e)
			id := box.Cap.ID()
			v.Mailboxes = append(v.Mailboxes, vectorMailbox{From: dir[0].Name(), To: dir[1].Name(), Epoch: uint64(e),
				CapSeed: seed[:], ID: id[:], Key: box.Key[:]})
		}
	}
	ve := &v.Entry
	ve.TimeMS, ve.Text, ve.AttName, ve.AttType, ve.AttData = 1_700_000_000_123, "Hello, Bob! 🌳", "hi.txt", "text/plain", []byte("hi\n")
	raw, err := encodeEntry(alice.pub.Sign, time.UnixMilli(ve.TimeMS), ve.Text, []Attachment{{ve.AttName, ve.AttType, ve.AttData}})
	if err != nil {
		t.Fatal(err)
	}
	id := entryID(raw)
	ve.Encoding, ve.SignedBytes, ve.Signature, ve.ID = raw, entrySigInput(raw), alice.signEntry(raw), id[:]

	vh := &v.Header
	seed := [keyLen]byte(bytes.Repeat([]byte{5}, keyLen))
	capb := mailbox.NewCapability(seed)
	boxID := capb.ID()
	h := header{Box: boxID, Key: [keyLen]byte(bytes.Repeat([]byte{6}, keyLen)), Entry: id, Size: len(raw) + sigLen}
	vh.BoxSeed, vh.BoxID, vh.BoxKey, vh.Size, vh.Encoding = seed[:], boxID[:], h.Key[:], h.Size, h.encode()
	return v
}

func TestVectors(t *testing.T) {
	got := generateVectors(t)
	var want vectorFile
	vectors.Load(t, vectorsPath, &want, func() any { return got })
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(&want)
	if !bytes.Equal(a, b) {
		t.Fatalf("the implementation no longer produces %s:\ngot  %s\nwant %s", vectorsPath, a, b)
	}
	// The stored codes and entry decode back, independently of generation.
	for _, p := range want.Parties {
		pub, err := ParseFriendCode(p.FriendCode)
		if err != nil || pub.Name != p.Name || !bytes.Equal(pub.Sign[:], p.SignPublic) || !bytes.Equal(pub.DH[:], p.DHPublic) {
			t.Fatalf("friend code of %s: %v", p.Name, err)
		}
	}
	var alice Public
	copy(alice.Sign[:], want.Parties[0].SignPublic)
	e, err := openContent(append(bytes.Clone(want.Entry.Encoding), want.Entry.Signature...), alice)
	if err != nil || e.Text != want.Entry.Text || !bytes.Equal(e.ID[:], want.Entry.ID) {
		t.Fatalf("the vector entry: %v", err)
	}
}
