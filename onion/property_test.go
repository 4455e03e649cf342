package onion

import (
	"bytes"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestPropertyRoundTrip: for any valid geometry, path length, key phases,
// delays and payload, a forward packet and a SURB reply arrive intact and
// every hop sees exactly its own routing command.
func TestPropertyRoundTrip(t *testing.T) {
	pool := newTestNodes(t, 8)
	rapid.Check(t, func(t *rapid.T) {
		g := Geometry{
			Hops:        rapid.IntRange(1, 8).Draw(t, "hops"),
			UserPayload: rapid.IntRange(MinUserPayload, 4096).Draw(t, "payload"),
		}
		n := rapid.IntRange(1, g.Hops).Draw(t, "pathLen")
		nodes := pool[:n]
		path := make([]Hop, n)
		for i := range path {
			path[i] = Hop{Node: nodes[i].id, Key: nodes[i].key.Public(),
				Phase: uint8(rapid.IntRange(0, 1).Draw(t, "phase")),
				Delay: time.Duration(rapid.Int64Range(0, maxDelayMicros).Draw(t, "delay")) * time.Microsecond}
		}
		payload := rapid.SliceOfN(rapid.Byte(), 0, g.UserPayload).Draw(t, "data")
		var rcpt Recipient
		copy(rcpt[:], rapid.SliceOfN(rapid.Byte(), NodeIDLen, NodeIDLen).Draw(t, "recipient"))
		reply := rapid.Bool().Draw(t, "reply")

		var pkt []byte
		var keys *SURBKeys
		var err error
		if reply {
			var surb []byte
			if surb, keys, err = g.NewSURB(path, rcpt); err == nil {
				_, pkt, err = g.NewReply(surb, payload)
			}
		} else {
			pkt, err = g.NewPacket(path, rcpt, payload)
		}
		if err != nil {
			t.Fatal(err)
		}
		for i := range nodes {
			if KeyPhase(pkt) != path[i].Phase {
				t.Fatalf("hop %d: phase", i)
			}
			u, err := g.Unwrap(nodes[i].key, pkt)
			if err != nil {
				t.Fatalf("hop %d: %v", i, err)
			}
			if i < n-1 {
				if u.Command != Relay || u.Next != nodes[i+1].id || u.Delay != path[i].Delay {
					t.Fatalf("hop %d: %v to %v after %v", i, u.Command, u.Next, u.Delay)
				}
				pkt = u.Packet
				continue
			}
			got := u.Payload
			if reply {
				if u.Command != SURBReply || u.SURBID != keys.ID {
					t.Fatalf("final %v", u.Command)
				}
				if got, err = g.OpenReply(keys, u.Payload); err != nil {
					t.Fatal(err)
				}
			} else if u.Command != Deliver {
				t.Fatalf("final %v", u.Command)
			}
			if u.Recipient != rcpt || !bytes.Equal(got[:len(payload)], payload) || !allZero(got[len(payload):]) {
				t.Fatal("delivery differs")
			}
		}
	})
}
