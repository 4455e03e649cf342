package onion

import (
	"bytes"
	"errors"
	"testing"
)

func TestRoundTripSURB(t *testing.T) {
	g := DefaultGeometry
	nodes := newTestNodes(t, g.Hops)
	for n := 1; n <= g.Hops; n++ {
		client := Recipient{7, byte(n)}
		surb, keys, err := g.NewSURB(pathOf(nodes[:n]), client)
		if err != nil {
			t.Fatal(err)
		}
		if len(surb) != g.SURBLen() {
			t.Fatalf("SURB of %d bytes, want %d", len(surb), g.SURBLen())
		}
		body := randomBytes(g.UserPayload)
		first, pkt, err := g.NewReply(surb, body)
		if err != nil {
			t.Fatal(err)
		}
		if first != nodes[0].id || len(pkt) != g.PacketLen() {
			t.Fatalf("reply to %v of %d bytes", first, len(pkt))
		}
		res := walk(t, g, nodes[:n], pkt)
		last := res[n-1]
		if last.Command != SURBReply || last.Recipient != client || last.SURBID != keys.ID {
			t.Fatalf("%d hops: final %v to %v id %v", n, last.Command, last.Recipient, last.SURBID)
		}
		if len(last.Payload) != g.PayloadLen() {
			t.Fatalf("sealed reply of %d bytes", len(last.Payload))
		}
		got, err := g.OpenReply(keys, last.Payload)
		if err != nil {
			t.Fatalf("%d hops: %v", n, err)
		}
		if !bytes.Equal(got, body) {
			t.Fatalf("%d hops: reply differs", n)
		}
	}
}

func TestSURBReplyBitFlipsRejected(t *testing.T) {
	g := DefaultGeometry
	nodes := newTestNodes(t, 4)
	surb, keys, err := g.NewSURB(pathOf(nodes), Recipient{1})
	if err != nil {
		t.Fatal(err)
	}
	_, orig, err := g.NewReply(surb, []byte("reply"))
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < g.PayloadLen(); off += 11 {
		pkt := bytes.Clone(orig)
		pkt[g.HeaderLen()+off] ^= 1 << (off % 8)
		res := walk(t, g, nodes, pkt)
		if _, err := g.OpenReply(keys, res[len(res)-1].Payload); !errors.Is(err, ErrAuthentication) {
			t.Fatalf("reply byte %d flipped: err = %v", off, err)
		}
	}
}

func TestOpenReplyWithOtherKeysFails(t *testing.T) {
	g := DefaultGeometry
	nodes := newTestNodes(t, 4)
	surb, _, err := g.NewSURB(pathOf(nodes), Recipient{1})
	if err != nil {
		t.Fatal(err)
	}
	_, otherKeys, err := g.NewSURB(pathOf(nodes), Recipient{1})
	if err != nil {
		t.Fatal(err)
	}
	_, pkt, err := g.NewReply(surb, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	res := walk(t, g, nodes, pkt)
	if _, err := g.OpenReply(otherKeys, res[3].Payload); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("opened with another SURB's keys: %v", err)
	}
}

func TestSURBReplyLooksLikeForward(t *testing.T) {
	// A hop cannot tell a reply from a forward packet: both relay with the
	// same lengths and the same command.
	g := DefaultGeometry
	nodes := newTestNodes(t, 4)
	surb, _, _ := g.NewSURB(pathOf(nodes), Recipient{})
	_, reply, _ := g.NewReply(surb, nil)
	fwd, _ := g.NewPacket(pathOf(nodes), Recipient{}, nil)
	for i := range 3 {
		r, err1 := g.Unwrap(nodes[i].key, reply)
		f, err2 := g.Unwrap(nodes[i].key, fwd)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if r.Command != f.Command || len(r.Packet) != len(f.Packet) {
			t.Fatalf("hop %d tells reply from forward", i)
		}
		reply, fwd = r.Packet, f.Packet
	}
}

func TestSURBKeysEncoding(t *testing.T) {
	g := DefaultGeometry
	nodes := newTestNodes(t, 4)
	surb, keys, err := g.NewSURB(pathOf(nodes), Recipient{1})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := keys.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back SURBKeys
	if err := back.UnmarshalBinary(enc); err != nil {
		t.Fatal(err)
	}
	_, pkt, _ := g.NewReply(surb, []byte("via stored keys"))
	res := walk(t, g, nodes, pkt)
	got, err := g.OpenReply(&back, res[3].Payload)
	if err != nil || !bytes.HasPrefix(got, []byte("via stored keys")) {
		t.Fatalf("open with decoded keys: %v", err)
	}
	for _, bad := range [][]byte{nil, enc[:10], enc[:len(enc)-1], append(bytes.Clone(enc), 0)} {
		if err := new(SURBKeys).UnmarshalBinary(bad); !errors.Is(err, ErrMalformed) {
			t.Fatalf("decoding %d bytes: %v", len(bad), err)
		}
	}
	wrongVersion := bytes.Clone(enc)
	wrongVersion[0] = 2
	if err := new(SURBKeys).UnmarshalBinary(wrongVersion); !errors.Is(err, ErrMalformed) {
		t.Fatal("version 2 accepted")
	}
	keys.Wipe()
	if _, err := g.OpenReply(keys, res[3].Payload); !errors.Is(err, ErrMalformed) {
		t.Fatalf("opened with wiped keys: %v", err)
	}
}

func TestNewReplyArguments(t *testing.T) {
	g := DefaultGeometry
	nodes := newTestNodes(t, 2)
	surb, _, _ := g.NewSURB(pathOf(nodes), Recipient{})
	if _, _, err := g.NewReply(surb[1:], nil); !errors.Is(err, ErrMalformed) {
		t.Error("short SURB accepted")
	}
	if _, _, err := g.NewReply(surb, make([]byte, g.UserPayload+1)); err == nil {
		t.Error("oversized reply accepted")
	}
	if _, err := g.OpenReply(&SURBKeys{}, make([]byte, 3)); !errors.Is(err, ErrMalformed) {
		t.Error("short sealed reply accepted")
	}
}
