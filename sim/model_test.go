package sim

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"loam/onion"
)

func modelKeys(t testing.TB, n int) []*onion.PrivateKey {
	var ks []*onion.PrivateKey
	for i := range n {
		var seed [onion.KeyLen]byte
		seed[5] = byte(i + 1) // not byte 0, whose low bits X25519 clamps away
		k, err := onion.NewPrivateKey(seed)
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, k)
	}
	return ks
}

func modelPath(keys []*onion.PrivateKey, delays []time.Duration) []mhop {
	var path []mhop
	for i, k := range keys {
		pub := k.Public()
		path = append(path, mhop{node: nodeID(i), fp: [mFPLen]byte(pub[:]), delay: delays[i]})
	}
	return path
}

// A model packet unwraps hop by hop into the commands it was built with,
// like a real one, in place and at the geometry's length.
func TestModelPacketRoundTrip(t *testing.T) {
	geo := onion.DefaultGeometry
	m := modelFormat{geo}
	keys := modelKeys(t, 5)
	delays := []time.Duration{0, 17 * time.Millisecond, 3 * time.Second, 250 * time.Microsecond, 0}
	tr := truth{id: 0xdeadbeef01, sender: 42, kind: KindPost, aux: 7}
	payload := []byte("hello, mixnet")
	for _, fin := range []final{
		{cmd: cmdDeliver, rcpt: recipientMailbox},
		{cmd: cmdSURBReply, rcpt: queueID(9), surb: surbID(77)},
	} {
		pkt := make([]byte, geo.PacketLen())
		m.packet(pkt, tr, 1, modelPath(keys, delays), fin, payload)
		if onion.KeyPhase(pkt) != 1 || m.truthOf(pkt) != tr {
			t.Fatalf("phase %d truth %+v", onion.KeyPhase(pkt), m.truthOf(pkt))
		}
		var tags []onion.ReplayTag
		for h, k := range keys {
			u, err := m.unwrap(k, pkt)
			if err != nil {
				t.Fatalf("hop %d: %v", h, err)
			}
			tags = append(tags, u.ReplayTag)
			if h < len(keys)-1 {
				if u.Command != onion.Relay || u.Next != nodeID(h+1) || u.Delay != delays[h] || &u.Packet[0] != &pkt[0] {
					t.Fatalf("hop %d: %+v", h, u)
				}
				continue
			}
			switch fin.cmd {
			case cmdDeliver:
				if u.Command != onion.Deliver || u.Recipient != fin.rcpt || !bytes.HasPrefix(u.Payload, payload) || len(u.Payload) != geo.UserPayload {
					t.Fatalf("last hop: %+v", u)
				}
			case cmdSURBReply:
				if u.Command != onion.SURBReply || u.Recipient != fin.rcpt || u.SURBID != fin.surb || len(u.Payload) != geo.PayloadLen() {
					t.Fatalf("last hop: %+v", u)
				}
			}
		}
		for i := range tags {
			for j := range i {
				if tags[i] == tags[j] {
					t.Fatalf("hops %d and %d share a replay tag", i, j)
				}
			}
		}
		if replayTag(tr.id, 2) != tags[2] {
			t.Fatal("replay tag not stable")
		}
	}
}

func TestModelUnwrapRejects(t *testing.T) {
	geo := onion.DefaultGeometry
	m := modelFormat{geo}
	keys := modelKeys(t, 3)
	build := func() []byte {
		pkt := make([]byte, geo.PacketLen())
		m.packet(pkt, truth{id: 1}, 0, modelPath(keys, make([]time.Duration, 3)), final{cmd: cmdDeliver, rcpt: recipientMailbox}, nil)
		return pkt
	}
	if _, err := m.unwrap(keys[1], build()); !errors.Is(err, onion.ErrAuthentication) {
		t.Fatalf("wrong node's key: %v", err)
	}
	if _, err := m.unwrap(keys[0], build()[:100]); !errors.Is(err, onion.ErrMalformed) {
		t.Fatalf("short packet: %v", err)
	}
	bad := build()
	bad[geo.HeaderLen()-onion.MACLen] ^= 1
	if _, err := m.unwrap(keys[0], bad); !errors.Is(err, onion.ErrMalformed) {
		t.Fatalf("not a model packet: %v", err)
	}
	bad = build()
	bad[mOffHop] = byte(geo.Hops)
	if _, err := m.unwrap(keys[0], bad); !errors.Is(err, onion.ErrMalformed) {
		t.Fatalf("hop past the header: %v", err)
	}
	bad = build()
	bad[onion.KeyLen] = 0x09 // unknown command in slot 0
	if _, err := m.unwrap(keys[0], bad); !errors.Is(err, onion.ErrMalformed) {
		t.Fatalf("unknown command: %v", err)
	}
	// A real onion packet is not a model packet.
	pub := keys[0].Public()
	real, err := geo.NewPacket([]onion.Hop{{Node: nodeID(0), Key: pub}}, recipientMailbox, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.unwrap(keys[0], real); err == nil {
		t.Fatal("real packet accepted by the model")
	}
}

func TestIDs(t *testing.T) {
	for _, i := range []int{0, 1, 9999, 1 << 20} {
		if j, ok := nodeIndex(nodeID(i), 1<<21); !ok || j != i {
			t.Fatalf("node %d → %d %v", i, j, ok)
		}
		if j, ok := queueIndex(queueID(i), 1<<21); !ok || j != i {
			t.Fatalf("queue %d → %d %v", i, j, ok)
		}
	}
	if _, ok := nodeIndex(nodeID(5), 5); ok {
		t.Fatal("index out of range accepted")
	}
	if _, ok := nodeIndex(onion.NodeID{1, 2, 3}, 100); ok {
		t.Fatal("foreign node id accepted")
	}
	if _, ok := queueIndex(onion.Recipient(nodeID(1)), 100); ok {
		t.Fatal("node id taken for a queue")
	}
}

func FuzzModelUnwrap(f *testing.F) {
	geo := onion.Geometry{Hops: 5, UserPayload: 64}
	m := modelFormat{geo}
	keys := modelKeys(f, 5)
	good := make([]byte, geo.PacketLen())
	m.packet(good, truth{id: 3, sender: 1, kind: KindDrop}, 0, modelPath(keys, make([]time.Duration, 5)), final{cmd: cmdDeliver, rcpt: recipientMailbox}, nil)
	f.Add(good, uint8(0))
	f.Add(good[:50], uint8(1))
	f.Add(make([]byte, geo.PacketLen()), uint8(2))
	f.Fuzz(func(t *testing.T, pkt []byte, k uint8) {
		in := bytes.Clone(pkt)
		u, err := m.unwrap(keys[int(k)%len(keys)], in)
		if err != nil {
			if !errors.Is(err, onion.ErrMalformed) && !errors.Is(err, onion.ErrAuthentication) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		switch u.Command {
		case onion.Relay:
			if len(u.Packet) != geo.PacketLen() {
				t.Fatal("relayed packet of the wrong length")
			}
		case onion.Deliver:
			if len(u.Payload) != geo.UserPayload {
				t.Fatal("payload of the wrong length")
			}
		case onion.SURBReply:
			if len(u.Payload) != geo.PayloadLen() {
				t.Fatal("sealed reply of the wrong length")
			}
		default:
			t.Fatalf("command %v accepted", u.Command)
		}
	})
}
