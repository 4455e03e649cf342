package onion

import (
	"bytes"
	"testing"
	"time"

	"loam/onion/internal/lioness"

	"loam/internal/vectors"
)

// Regenerate with: go test ./onion -run TestVectors -update
const vectorsPath = "testdata/vectors.json"

type hexBytes = vectors.Hex

type vectorHop struct {
	NodeKey hexBytes `json:"node_private_key"`
	NodeID  hexBytes `json:"node_id"`
	Phase   uint8    `json:"phase"`
	DelayUS int64    `json:"delay_us"`
	Packet  hexBytes `json:"packet_in"`
	Replay  hexBytes `json:"replay_tag"`
	Command string   `json:"command"`
}

type vectorFile struct {
	Comment string `json:"comment"`
	Hops    int    `json:"hops"`
	Payload int    `json:"user_payload"`
	Lioness struct {
		Key        hexBytes `json:"key"`
		Plaintext  hexBytes `json:"plaintext"`
		Ciphertext hexBytes `json:"ciphertext"`
	} `json:"lioness"`
	Forward struct {
		Seed      byte        `json:"rng_seed"`
		Recipient hexBytes    `json:"recipient"`
		Payload   hexBytes    `json:"payload"`
		Hops      []vectorHop `json:"hops"`
	} `json:"forward"`
	Reply struct {
		Seed      byte        `json:"rng_seed"`
		Recipient hexBytes    `json:"recipient"`
		SURB      hexBytes    `json:"surb"`
		SURBKeys  hexBytes    `json:"surb_keys"`
		Body      hexBytes    `json:"reply_body"`
		Sealed    hexBytes    `json:"sealed_reply"`
		Hops      []vectorHop `json:"hops"`
	} `json:"reply"`
}

func vectorNodes(seed byte, n int, phases []uint8) ([]testNode, []Hop) {
	rng := seededReader(seed)
	nodes := make([]testNode, n)
	hops := make([]Hop, n)
	for i := range nodes {
		var k [KeyLen]byte
		rng.Read(k[:])
		nodes[i].key, _ = NewPrivateKey(k)
		rng.Read(nodes[i].id[:])
		hops[i] = Hop{Node: nodes[i].id, Key: nodes[i].key.Public(), Phase: phases[i],
			Delay: time.Duration(i*1000+17) * time.Microsecond}
	}
	return nodes, hops
}

func generateVectors(t *testing.T) *vectorFile {
	g := DefaultGeometry
	v := &vectorFile{Comment: "Loam onion test vectors (SPEC.md §2). Regenerate: go test ./onion -run TestVectors -update",
		Hops: g.Hops, Payload: g.UserPayload}

	rng := seededReader(9)
	var lk lioness.Key
	rng.Read(lk[:])
	pt := make([]byte, 80)
	rng.Read(pt)
	ct := bytes.Clone(pt)
	lioness.Encrypt(&lk, ct)
	v.Lioness.Key, v.Lioness.Plaintext, v.Lioness.Ciphertext = lk[:], pt, ct

	nodes, path := vectorNodes(1, 5, []uint8{0, 1, 1, 0, 1})
	v.Forward.Seed = 2
	v.Forward.Recipient = []byte("echo\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	v.Forward.Payload = []byte("Loam onion test vector payload")
	pkt, err := g.newPacket(seededReader(v.Forward.Seed), path, Recipient(v.Forward.Recipient), v.Forward.Payload)
	if err != nil {
		t.Fatal(err)
	}
	v.Forward.Hops = recordHops(t, g, nodes, path, pkt)

	nodes, path = vectorNodes(3, 4, []uint8{1, 0, 1, 1})
	v.Reply.Seed = 4
	v.Reply.Recipient = bytes.Repeat([]byte{0xc1}, NodeIDLen)
	v.Reply.Body = []byte("Loam onion test vector reply")
	surb, keys, err := g.newSURB(seededReader(v.Reply.Seed), path, Recipient(v.Reply.Recipient))
	if err != nil {
		t.Fatal(err)
	}
	v.Reply.SURB = surb
	v.Reply.SURBKeys, _ = keys.MarshalBinary()
	_, pkt, err = g.NewReply(surb, v.Reply.Body)
	if err != nil {
		t.Fatal(err)
	}
	v.Reply.Hops = recordHops(t, g, nodes, path, pkt)
	last := v.Reply.Hops[len(path)-1]
	u, err := g.Unwrap(nodes[len(path)-1].key, bytes.Clone(last.Packet))
	if err != nil {
		t.Fatal(err)
	}
	v.Reply.Sealed = bytes.Clone(u.Payload)
	return v
}

func recordHops(t *testing.T, g Geometry, nodes []testNode, path []Hop, pkt []byte) []vectorHop {
	out := make([]vectorHop, len(nodes))
	for i, n := range nodes {
		k := n.key.Bytes()
		out[i] = vectorHop{NodeKey: k[:], NodeID: n.id[:], Phase: path[i].Phase,
			DelayUS: path[i].Delay.Microseconds(), Packet: bytes.Clone(pkt)}
		u, err := g.Unwrap(n.key, pkt)
		if err != nil {
			t.Fatalf("hop %d: %v", i, err)
		}
		out[i].Replay, out[i].Command = u.ReplayTag[:], u.Command.String()
		pkt = u.Packet
	}
	return out
}

func TestVectors(t *testing.T) {
	var v vectorFile
	vectors.Load(t, vectorsPath, &v, func() any { return generateVectors(t) })
	g := Geometry{Hops: v.Hops, UserPayload: v.Payload}

	var lk lioness.Key
	copy(lk[:], v.Lioness.Key)
	ct := bytes.Clone(v.Lioness.Plaintext)
	lioness.Encrypt(&lk, ct)
	if !bytes.Equal(ct, v.Lioness.Ciphertext) {
		t.Fatal("LIONESS ciphertext differs from the vector")
	}

	final := checkHops(t, g, v.Forward.Hops)
	want := append(bytes.Clone([]byte(v.Forward.Payload)), make([]byte, g.UserPayload-len(v.Forward.Payload))...)
	if final.Command != Deliver || !bytes.Equal(final.Recipient[:], v.Forward.Recipient) || !bytes.Equal(final.Payload, want) {
		t.Fatal("forward vector: final delivery differs")
	}

	_, reply, err := g.NewReply(v.Reply.SURB, v.Reply.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(reply, v.Reply.Hops[0].Packet) {
		t.Fatal("reply vector: NewReply output differs")
	}
	final = checkHops(t, g, v.Reply.Hops)
	if final.Command != SURBReply || !bytes.Equal(final.Payload, v.Reply.Sealed) {
		t.Fatal("reply vector: sealed reply differs")
	}
	var keys SURBKeys
	if err := keys.UnmarshalBinary(v.Reply.SURBKeys); err != nil {
		t.Fatal(err)
	}
	if final.SURBID != keys.ID || !bytes.Equal(final.Recipient[:], v.Reply.Recipient) {
		t.Fatal("reply vector: SURB id or recipient differs")
	}
	body, err := g.OpenReply(&keys, final.Payload)
	if err != nil || !bytes.HasPrefix(body, v.Reply.Body) {
		t.Fatalf("reply vector: open: %v", err)
	}

	// The builders, fed the recorded random stream, still make the recorded
	// bytes: the vectors pin construction as well as processing.
	regen := generateVectors(t)
	if !bytes.Equal(regen.Forward.Hops[0].Packet, v.Forward.Hops[0].Packet) ||
		!bytes.Equal(regen.Reply.SURB, v.Reply.SURB) {
		t.Fatal("packet construction no longer matches testdata/vectors.json")
	}
}

// checkHops unwraps each recorded input packet and checks that the output is
// the next recorded input, with the recorded command and replay tag.
func checkHops(t *testing.T, g Geometry, hops []vectorHop) Unwrapped {
	t.Helper()
	var u Unwrapped
	for i, h := range hops {
		var seed [KeyLen]byte
		copy(seed[:], h.NodeKey)
		key, err := NewPrivateKey(seed)
		if err != nil {
			t.Fatal(err)
		}
		if KeyPhase(h.Packet) != h.Phase {
			t.Fatalf("hop %d: key phase differs", i)
		}
		u, err = g.Unwrap(key, bytes.Clone(h.Packet))
		if err != nil {
			t.Fatalf("hop %d: %v", i, err)
		}
		if u.Command.String() != h.Command || !bytes.Equal(u.ReplayTag[:], h.Replay) {
			t.Fatalf("hop %d: command or replay tag differs", i)
		}
		if i+1 < len(hops) {
			if !bytes.Equal(u.Packet, hops[i+1].Packet) || !bytes.Equal(u.Next[:], hops[i+1].NodeID) ||
				u.Delay != time.Duration(h.DelayUS)*time.Microsecond {
				t.Fatalf("hop %d: output differs from the vector", i)
			}
		}
	}
	return u
}
