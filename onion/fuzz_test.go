package onion

import (
	"bytes"
	"errors"
	"testing"
)

func fuzzNodes(t testing.TB) []testNode {
	nodes := make([]testNode, 3)
	for i := range nodes {
		var seed [KeyLen]byte
		seed[0] = byte(i + 1)
		k, err := NewPrivateKey(seed)
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = testNode{id: NodeID{byte(i)}, key: k}
	}
	return nodes
}

// FuzzUnwrap feeds arbitrary bytes to a node's Unwrap: no input may panic,
// and anything accepted must obey the packet's invariants.
func FuzzUnwrap(f *testing.F) {
	g := DefaultGeometry
	nodes := fuzzNodes(f)
	pkt, err := g.NewPacket(pathOf(nodes), Recipient{1}, []byte("seed"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pkt)
	f.Add(pkt[:len(pkt)-1])
	f.Add(make([]byte, g.PacketLen()))
	f.Add([]byte{})
	surb, _, _ := g.NewSURB(pathOf(nodes[:1]), Recipient{2})
	_, reply, _ := g.NewReply(surb, []byte("reply"))
	f.Add(reply)
	f.Fuzz(func(t *testing.T, in []byte) {
		n := len(in)
		u, err := g.Unwrap(nodes[0].key, in)
		if err != nil {
			if !errors.Is(err, ErrAuthentication) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		switch u.Command {
		case Relay:
			if len(u.Packet) != n {
				t.Fatalf("relay output of %d bytes from %d", len(u.Packet), n)
			}
		case Deliver:
			if len(u.Payload) != g.UserPayload {
				t.Fatalf("payload of %d bytes", len(u.Payload))
			}
		case SURBReply:
			if len(u.Payload) != g.PayloadLen() {
				t.Fatalf("sealed reply of %d bytes", len(u.Payload))
			}
		default:
			t.Fatalf("accepted command %v", u.Command)
		}
	})
}

// FuzzNewReply decodes arbitrary SURBs as a service would.
func FuzzNewReply(f *testing.F) {
	g := DefaultGeometry
	nodes := fuzzNodes(f)
	surb, _, err := g.NewSURB(pathOf(nodes), Recipient{3})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(surb, []byte("body"))
	f.Add(surb[:10], []byte{})
	f.Add(make([]byte, g.SURBLen()), make([]byte, g.UserPayload+1))
	f.Fuzz(func(t *testing.T, surb, body []byte) {
		_, pkt, err := g.NewReply(surb, body)
		if err == nil && len(pkt) != g.PacketLen() {
			t.Fatalf("reply packet of %d bytes", len(pkt))
		}
	})
}

// FuzzOpenReply opens arbitrary sealed replies with arbitrary stored keys.
func FuzzOpenReply(f *testing.F) {
	g := DefaultGeometry
	nodes := fuzzNodes(f)
	surb, keys, err := g.NewSURB(pathOf(nodes), Recipient{3})
	if err != nil {
		f.Fatal(err)
	}
	enc, _ := keys.MarshalBinary()
	_, pkt, _ := g.NewReply(surb, []byte("x"))
	for _, n := range nodes {
		u, err := g.Unwrap(n.key, pkt)
		if err != nil {
			f.Fatal(err)
		}
		pkt = u.Packet
		if u.Command == SURBReply {
			f.Add(enc, bytes.Clone(u.Payload))
		}
	}
	f.Add(enc, []byte{1, 2, 3})
	f.Add([]byte{1}, make([]byte, g.PayloadLen()))
	f.Fuzz(func(t *testing.T, enc, sealed []byte) {
		var k SURBKeys
		if k.UnmarshalBinary(enc) != nil {
			return
		}
		body, err := g.OpenReply(&k, sealed)
		if err == nil && len(body) != g.UserPayload {
			t.Fatalf("reply body of %d bytes", len(body))
		}
	})
}

// FuzzSURBKeys checks that whatever UnmarshalBinary accepts re-encodes to
// the same bytes.
func FuzzSURBKeys(f *testing.F) {
	g := DefaultGeometry
	_, keys, err := g.NewSURB(pathOf(fuzzNodes(f)), Recipient{})
	if err != nil {
		f.Fatal(err)
	}
	enc, _ := keys.MarshalBinary()
	f.Add(enc)
	f.Add(enc[:49])
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, in []byte) {
		var k SURBKeys
		if k.UnmarshalBinary(in) != nil {
			return
		}
		out, err := k.MarshalBinary()
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("re-encoding differs: %v", err)
		}
	})
}
