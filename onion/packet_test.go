package onion

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestGeometryLengths(t *testing.T) {
	g := DefaultGeometry
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	// SPEC.md §2.1 states these numbers; a change here is a wire change.
	if got, want := g.HeaderLen(), 32+5*69+16; got != want || got != 393 {
		t.Errorf("HeaderLen = %d, want 393", got)
	}
	if got := g.PacketLen(); got != 2457 {
		t.Errorf("PacketLen = %d, want 2457", got)
	}
	if got := g.SURBLen(); got != 441 {
		t.Errorf("SURBLen = %d, want 441", got)
	}
	for _, bad := range []Geometry{{0, 2048}, {MaxHops + 1, 2048}, {5, MinUserPayload - 1}, {5, MaxUserPayload + 1}} {
		if bad.Validate() == nil {
			t.Errorf("Validate(%+v) = nil, want an error", bad)
		}
	}
}

func TestRoundTripForward(t *testing.T) {
	for _, g := range []Geometry{DefaultGeometry, {Hops: 3, UserPayload: MinUserPayload}, {Hops: 8, UserPayload: 4000}} {
		nodes := newTestNodes(t, g.Hops)
		for n := 1; n <= g.Hops; n++ {
			payload := randomBytes(g.UserPayload - n) // short payloads are zero-padded
			recipient := Recipient{1, 2, byte(n)}
			pkt, err := g.NewPacket(pathOf(nodes[:n]), recipient, payload)
			if err != nil {
				t.Fatal(err)
			}
			if len(pkt) != g.PacketLen() {
				t.Fatalf("packet of %d bytes, want %d", len(pkt), g.PacketLen())
			}
			res := walk(t, g, nodes[:n], pkt)
			for i, u := range res[:n-1] {
				if u.Delay != time.Duration(i+1)*time.Millisecond {
					t.Errorf("hop %d: delay %v", i, u.Delay)
				}
			}
			last := res[n-1]
			if last.Command != Deliver || last.Recipient != recipient {
				t.Fatalf("%d hops: final %v to %v", n, last.Command, last.Recipient)
			}
			want := append(payload, make([]byte, n)...)
			if !bytes.Equal(last.Payload, want) {
				t.Fatalf("%d hops: payload differs", n)
			}
		}
	}
}

func TestDelayResolution(t *testing.T) {
	g := DefaultGeometry
	nodes := newTestNodes(t, 2)
	path := pathOf(nodes)
	path[0].Delay = 1234567891 * time.Nanosecond
	pkt, err := g.NewPacket(path, Recipient{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := g.Unwrap(nodes[0].key, pkt)
	if err != nil {
		t.Fatal(err)
	}
	if u.Delay != 1234567*time.Microsecond {
		t.Fatalf("delay %v, want 1.234567s", u.Delay)
	}
}

func TestHeaderBitFlipsRejectedAtFirstReader(t *testing.T) {
	g := DefaultGeometry
	nodes := newTestNodes(t, g.Hops)
	pkt, err := g.NewPacket(pathOf(nodes), Recipient{9}, randomBytes(100))
	if err != nil {
		t.Fatal(err)
	}
	arriving := make([][]byte, len(nodes)) // the packet as it reaches each hop
	for i, n := range nodes {
		arriving[i] = bytes.Clone(pkt)
		u, err := g.Unwrap(n.key, pkt)
		if err != nil {
			t.Fatalf("hop %d: %v", i, err)
		}
		pkt = u.Packet
	}
	for hop, n := range nodes {
		t.Run(fmt.Sprintf("hop%d", hop), func(t *testing.T) {
			t.Parallel()
			for bit := 0; bit < 8*g.HeaderLen(); bit++ {
				bad := bytes.Clone(arriving[hop])
				bad[bit/8] ^= 1 << (bit % 8)
				if _, err := g.Unwrap(n.key, bad); !errors.Is(err, ErrAuthentication) {
					t.Fatalf("header bit %d flipped: err = %v, want ErrAuthentication", bit, err)
				}
			}
		})
	}
}

func TestPayloadBitFlipsCaughtAtFinalHop(t *testing.T) {
	g := DefaultGeometry
	nodes := newTestNodes(t, g.Hops)
	orig, err := g.NewPacket(pathOf(nodes), Recipient{9}, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	// Every payload byte, each with a different bit, flipped before a
	// different hop: the flip survives the relays and is caught at the end.
	for off := 0; off < g.PayloadLen(); off += 7 {
		pkt := bytes.Clone(orig)
		flipAt := off % len(nodes)
		for i, n := range nodes {
			if i == flipAt {
				pkt[g.HeaderLen()+off] ^= 1 << (off % 8)
			}
			u, err := g.Unwrap(n.key, pkt)
			if i < len(nodes)-1 {
				if err != nil {
					t.Fatalf("byte %d: relay hop %d rejected a payload flip: %v", off, i, err)
				}
				pkt = u.Packet
				continue
			}
			if !errors.Is(err, ErrAuthentication) {
				t.Fatalf("payload byte %d flipped before hop %d: final err = %v", off, flipAt, err)
			}
		}
	}
}

func TestWrongKeyRejected(t *testing.T) {
	g := DefaultGeometry
	nodes := newTestNodes(t, 3)
	pkt, err := g.NewPacket(pathOf(nodes), Recipient{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, other := range nodes[1:] {
		if _, err := g.Unwrap(other.key, bytes.Clone(pkt)); !errors.Is(err, ErrAuthentication) {
			t.Fatalf("unwrap with another node's key: %v", err)
		}
	}
}

func TestLowOrderAlphaRejected(t *testing.T) {
	g := DefaultGeometry
	nodes := newTestNodes(t, 1)
	// u = 0 and u = 1 are points of small order; their product is zero.
	for _, u := range []byte{0, 1} {
		pkt := make([]byte, g.PacketLen())
		pkt[0] = u
		if _, err := g.Unwrap(nodes[0].key, pkt); !errors.Is(err, ErrAuthentication) {
			t.Fatalf("alpha = %d: err = %v, want ErrAuthentication", u, err)
		}
	}
	hop := Hop{Key: PublicKey{}}
	if _, err := g.NewPacket([]Hop{hop}, Recipient{}, nil); err == nil {
		t.Fatal("NewPacket to an all-zero key succeeded")
	}
}

func TestReplayTag(t *testing.T) {
	g := DefaultGeometry
	nodes := newTestNodes(t, 2)
	pkt, err := g.NewPacket(pathOf(nodes), Recipient{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := g.NewPacket(pathOf(nodes), Recipient{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := g.Unwrap(nodes[0].key, bytes.Clone(pkt))
	if err != nil {
		t.Fatal(err)
	}
	b, err := g.Unwrap(nodes[0].key, bytes.Clone(pkt))
	if err != nil {
		t.Fatal(err)
	}
	c, err := g.Unwrap(nodes[0].key, other)
	if err != nil {
		t.Fatal(err)
	}
	if a.ReplayTag != b.ReplayTag {
		t.Fatal("a replayed packet gave a different replay tag")
	}
	if a.ReplayTag == c.ReplayTag {
		t.Fatal("two packets gave the same replay tag")
	}
	// The next hop's tag is unrelated to this hop's.
	d, err := g.Unwrap(nodes[1].key, a.Packet)
	if err != nil {
		t.Fatal(err)
	}
	if d.ReplayTag == a.ReplayTag {
		t.Fatal("two hops share a replay tag")
	}
}

func TestKeyPhase(t *testing.T) {
	g := DefaultGeometry
	nodes := newTestNodes(t, 3)
	path := pathOf(nodes)
	path[0].Phase, path[1].Phase, path[2].Phase = 1, 0, 1
	pkt, err := g.NewPacket(path, Recipient{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		if got := KeyPhase(pkt); got != path[i].Phase {
			t.Fatalf("hop %d: KeyPhase = %d, want %d", i, got, path[i].Phase)
		}
		u, err := g.Unwrap(n.key, pkt)
		if err != nil {
			t.Fatalf("hop %d: %v", i, err)
		}
		pkt = u.Packet
	}
	path[0].Phase = 2
	if _, err := g.NewPacket(path, Recipient{}, nil); err == nil {
		t.Fatal("phase 2 accepted")
	}
}

func TestMalformedInput(t *testing.T) {
	g := DefaultGeometry
	nodes := newTestNodes(t, 1)
	for _, n := range []int{0, 1, KeyLen, g.PacketLen() - 1, g.PacketLen() + 1} {
		if _, err := g.Unwrap(nodes[0].key, make([]byte, n)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%d-byte packet: err = %v, want ErrMalformed", n, err)
		}
	}
}

// TestUnknownCommandRejected builds headers whose authenticated final slot
// holds a command this version does not know, or a known command with a
// non-zero reserved tail.
func TestUnknownCommandRejected(t *testing.T) {
	g := DefaultGeometry
	nodes := newTestNodes(t, 2)
	var deliverTail, surbTail [SlotLen]byte
	putDeliver(deliverTail[:], Recipient{})
	deliverTail[SlotLen-1] = 1
	putSURBReply(surbTail[:], Recipient{}, SURBID{})
	surbTail[surbReplyEnd] = 1
	cases := map[string][]byte{
		"zero command":      make([]byte, SlotLen),
		"command 0x7f":      append([]byte{0x7f}, make([]byte, SlotLen-1)...),
		"deliver with tail": deliverTail[:],
		"reply with tail":   surbTail[:],
	}
	for name, final := range cases {
		pkt := make([]byte, g.PacketLen())
		keys, err := g.buildHeader(seededReader(1), pathOf(nodes), final, pkt)
		if err != nil {
			t.Fatal(err)
		}
		wipeAll(keys)
		u, err := g.Unwrap(nodes[0].key, pkt)
		if err != nil {
			t.Fatalf("%s: relay hop: %v", name, err)
		}
		if _, err := g.Unwrap(nodes[1].key, u.Packet); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestNewPacketArguments(t *testing.T) {
	g := DefaultGeometry
	nodes := newTestNodes(t, g.Hops+1)
	if _, err := g.NewPacket(nil, Recipient{}, nil); err == nil {
		t.Error("empty path accepted")
	}
	if _, err := g.NewPacket(pathOf(nodes), Recipient{}, nil); err == nil {
		t.Error("path longer than the geometry accepted")
	}
	if _, err := g.NewPacket(pathOf(nodes[:2]), Recipient{}, make([]byte, g.UserPayload+1)); err == nil {
		t.Error("oversized payload accepted")
	}
	path := pathOf(nodes[:2])
	path[0].Delay = -time.Millisecond
	if _, err := g.NewPacket(path, Recipient{}, nil); err == nil {
		t.Error("negative delay accepted")
	}
	path[0].Delay = 2 * time.Hour
	if _, err := g.NewPacket(path, Recipient{}, nil); err == nil {
		t.Error("delay beyond the encoding accepted")
	}
}

func TestPacketsUnlinkableByBytes(t *testing.T) {
	// Two packets for the same path and payload share no header bytes an
	// observer could match (beyond chance), and a relayed packet shares
	// none with its input.
	g := DefaultGeometry
	nodes := newTestNodes(t, 3)
	a, _ := g.NewPacket(pathOf(nodes), Recipient{}, nil)
	b, _ := g.NewPacket(pathOf(nodes), Recipient{}, nil)
	if same := countEqual(a, b); same > g.PacketLen()/32 {
		t.Fatalf("two packets share %d of %d bytes", same, g.PacketLen())
	}
	in := bytes.Clone(a)
	u, err := g.Unwrap(nodes[0].key, a)
	if err != nil {
		t.Fatal(err)
	}
	if same := countEqual(in, u.Packet); same > g.PacketLen()/32 {
		t.Fatalf("a hop's output shares %d of %d bytes with its input", same, g.PacketLen())
	}
}

func countEqual(a, b []byte) int {
	n := 0
	for i := range a {
		if a[i] == b[i] {
			n++
		}
	}
	return n
}
