package mixnet

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"loam/internal/clock"
	"loam/onion"
)

// vnet wires Routers together in virtual time: a packet sent to a node is
// handled there after a fixed link latency.
type vnet struct {
	t       *testing.T
	clk     *clock.Virtual
	geo     onion.Geometry
	period  time.Duration
	routers map[onion.NodeID]*Router
	keys    map[onion.NodeID]*EpochKeys
	metrics map[onion.NodeID]*Metrics
	replies []capturedReply
}

type capturedReply struct {
	queue  onion.Recipient
	id     onion.SURBID
	sealed []byte
}

type vnetOutbox struct {
	v *vnet
}

func (o vnetOutbox) Send(next onion.NodeID, pkt []byte) {
	o.v.clk.AfterFunc(time.Millisecond, func() {
		if r := o.v.routers[next]; r != nil {
			r.Handle(pkt, o.v.clk.Now())
		}
	})
}

func (v *vnet) DeliverReply(q onion.Recipient, id onion.SURBID, sealed []byte) {
	v.replies = append(v.replies, capturedReply{q, id, append([]byte(nil), sealed...)})
}

func newVnet(t *testing.T, names ...string) *vnet {
	v := &vnet{t: t, clk: clock.NewVirtual(time.Unix(1_000_000, 0)), geo: onion.DefaultGeometry,
		period: time.Minute, routers: map[onion.NodeID]*Router{}, keys: map[onion.NodeID]*EpochKeys{},
		metrics: map[onion.NodeID]*Metrics{}}
	epoch := uint64(v.clk.Now().Unix()) / 60
	for i := range names {
		id := onion.NodeID{byte(i + 1)}
		ks, _ := OpenEpochKeys("", 10000, 1e-6)
		if err := ks.Ensure(epoch, epoch+1); err != nil {
			t.Fatal(err)
		}
		m := NewMetrics(prometheus.NewRegistry())
		r := NewRouter(RouterConfig{Geometry: v.geo, Keys: ks, Clock: v.clk, Outbox: vnetOutbox{v},
			Clients: v, Metrics: m, EpochPeriod: v.period, Grace: 10 * time.Second,
			Services: map[onion.Recipient]Service{RecipientEcho: Echo, RecipientDrop: ServiceFunc(func(*Request) {})}})
		r.SetRoutes(func(onion.NodeID) bool { return true })
		v.routers[id], v.keys[id], v.metrics[id] = r, ks, m
	}
	return v
}

func (v *vnet) hop(i int, delay time.Duration) onion.Hop {
	id := onion.NodeID{byte(i + 1)}
	cur, _ := v.routers[id].Epoch(v.clk.Now())
	return onion.Hop{Node: id, Key: v.keys[id].Public(cur)[cur], Phase: uint8(cur & 1), Delay: delay}
}

func (v *vnet) drops(i int, reason DropReason) float64 {
	return testutil.ToFloat64(v.metrics[onion.NodeID{byte(i + 1)}].Drops.WithLabelValues(string(reason)))
}

// TestRouterEchoThroughFiveHops sends echo requests along gateway, three
// mixes and a service, and opens every answer that comes back by SURB.
func TestRouterEchoThroughFiveHops(t *testing.T) {
	v := newVnet(t, "gw", "l1", "l2", "l3", "svc")
	queue := onion.Recipient{0xc1}
	keys := map[onion.SURBID]*onion.SURBKeys{}
	bodies := map[onion.SURBID][]byte{}
	for i := range 100 {
		d := time.Duration(i%7) * 10 * time.Millisecond
		surb, sk, err := v.geo.NewSURB([]onion.Hop{v.hop(1, d), v.hop(2, d), v.hop(3, d), v.hop(0, 0)}, queue)
		if err != nil {
			t.Fatal(err)
		}
		body := []byte(fmt.Sprintf("echo request %d", i))
		payload, err := NewRequestPayload(v.geo, surb, body)
		if err != nil {
			t.Fatal(err)
		}
		pkt, err := v.geo.NewPacket([]onion.Hop{v.hop(0, 0), v.hop(1, d), v.hop(2, d), v.hop(3, d), v.hop(4, 0)}, RecipientEcho, payload)
		if err != nil {
			t.Fatal(err)
		}
		keys[sk.ID], bodies[sk.ID] = sk, body
		v.routers[onion.NodeID{1}].Handle(pkt, v.clk.Now())
	}
	v.clk.Advance(5 * time.Second)
	if len(v.replies) != 100 {
		t.Fatalf("%d replies, want 100", len(v.replies))
	}
	for _, rep := range v.replies {
		sk := keys[rep.id]
		if sk == nil || rep.queue != queue {
			t.Fatal("reply for an unknown SURB or queue")
		}
		got, err := v.geo.OpenReply(sk, rep.sealed)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(got, bodies[rep.id]) {
			t.Fatalf("reply %q", got[:20])
		}
	}
}

func TestRouterDropsReplaysAndTampering(t *testing.T) {
	v := newVnet(t, "a", "b")
	pkt, err := v.geo.NewPacket([]onion.Hop{v.hop(0, 0), v.hop(1, 0)}, RecipientDrop, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := v.routers[onion.NodeID{1}]
	first.Handle(bytes.Clone(pkt), v.clk.Now())
	first.Handle(bytes.Clone(pkt), v.clk.Now())
	bad := bytes.Clone(pkt)
	bad[100] ^= 1
	first.Handle(bad, v.clk.Now())
	first.Handle(pkt[:10], v.clk.Now())
	v.clk.Advance(time.Second)
	if got := v.drops(0, DropReplay); got != 1 {
		t.Fatalf("replay drops %v, want 1", got)
	}
	if got := v.drops(0, DropMAC); got != 1 {
		t.Fatalf("mac drops %v, want 1", got)
	}
	if got := v.drops(0, DropMalformed); got != 1 {
		t.Fatalf("malformed drops %v, want 1", got)
	}
	if got := testutil.ToFloat64(v.metrics[onion.NodeID{2}].Delivered.WithLabelValues("drop")); got != 1 {
		t.Fatalf("delivered %v, want 1", got)
	}
}

// TestRouterEpochRollover sends packets built with epoch e's keys whose
// delays carry them past the start of e+1: all arrive (grace); packets that
// arrive after the grace window are dropped for want of a key.
func TestRouterEpochRollover(t *testing.T) {
	v := newVnet(t, "a", "b", "c")
	// Move to 2 s before the next epoch.
	now := v.clk.Now()
	next := now.Truncate(v.period).Add(v.period)
	v.clk.RunUntil(next.Add(-2 * time.Second))
	delivered := 0
	v.routers[onion.NodeID{3}].services[RecipientEcho] = ServiceFunc(func(*Request) { delivered++ })
	for i := range 1000 {
		d := time.Duration(i) * 4 * time.Millisecond // up to 4 s: most cross the boundary
		pkt, err := v.geo.NewPacket([]onion.Hop{v.hop(0, d), v.hop(1, 0), v.hop(2, 0)}, RecipientEcho, nil)
		if err != nil {
			t.Fatal(err)
		}
		v.routers[onion.NodeID{1}].Handle(pkt, v.clk.Now())
	}
	v.clk.Advance(5 * time.Second)
	if delivered != 1000 {
		t.Fatalf("%d of 1000 delivered across the rollover", delivered)
	}
	// A packet for the old epoch after grace has no key.
	v.clk.RunUntil(next.Add(11 * time.Second))
	old := v.hop(0, 0)
	old.Phase ^= 1
	old.Key = v.keys[onion.NodeID{1}].Public(uint64(next.Unix()/60) - 1)[uint64(next.Unix()/60)-1]
	pkt, _ := v.geo.NewPacket([]onion.Hop{old, v.hop(1, 0)}, RecipientEcho, nil)
	v.routers[onion.NodeID{1}].Handle(pkt, v.clk.Now())
	if v.drops(0, DropNoKey) != 1 {
		t.Fatal("packet for an expired key not dropped")
	}
}

func TestRouterBadNextHop(t *testing.T) {
	v := newVnet(t, "a", "b")
	v.routers[onion.NodeID{1}].SetRoutes(func(id onion.NodeID) bool { return false })
	pkt, _ := v.geo.NewPacket([]onion.Hop{v.hop(0, 0), v.hop(1, 0)}, RecipientEcho, nil)
	v.routers[onion.NodeID{1}].Handle(pkt, v.clk.Now())
	if v.drops(0, DropBadNextHop) != 1 {
		t.Fatal("relay to a forbidden next hop not dropped")
	}
}

func TestRequestPayload(t *testing.T) {
	g := onion.DefaultGeometry
	surb := make([]byte, g.SURBLen())
	rand.Read(surb)
	p, err := NewRequestPayload(g, surb, []byte("body"))
	if err != nil {
		t.Fatal(err)
	}
	s, b := parseRequest(g, p)
	if !bytes.Equal(s, surb) || !bytes.HasPrefix(b, []byte("body")) || len(b) != RequestBodyLen(g) {
		t.Fatal("request layout differs")
	}
	p, _ = NewRequestPayload(g, nil, nil)
	if s, _ := parseRequest(g, p); s != nil {
		t.Fatal("absent SURB parsed as present")
	}
	if _, err := NewRequestPayload(g, surb[1:], nil); err == nil {
		t.Fatal("short SURB accepted")
	}
	if _, err := NewRequestPayload(g, nil, make([]byte, RequestBodyLen(g)+1)); err == nil {
		t.Fatal("oversized body accepted")
	}
}

// recordOutbox keeps the order in which a Router sends.
type recordOutbox struct{ sent [][]byte }

func (o *recordOutbox) Send(_ onion.NodeID, pkt []byte) {
	o.sent = append(o.sent, append([]byte(nil), pkt...))
}

// TestRouterHoldReorders: a Hold keeps a relayed packet past its delay, so
// that a packet relayed after it leaves first.
func TestRouterHoldReorders(t *testing.T) {
	clk := clock.NewVirtual(time.Unix(1_000_000, 0))
	ks, err := OpenEpochKeys("", 1000, 1e-6)
	if err != nil {
		t.Fatal(err)
	}
	epoch := uint64(clk.Now().Unix()) / 60
	if err := ks.Ensure(epoch, epoch+1); err != nil {
		t.Fatal(err)
	}
	held := 0
	out := &recordOutbox{}
	r := NewRouter(RouterConfig{Geometry: onion.DefaultGeometry, Keys: ks, Clock: clk, Outbox: out,
		Metrics: NewMetrics(prometheus.NewRegistry()), EpochPeriod: time.Minute, Grace: 10 * time.Second,
		Hold: func(onion.NodeID) time.Duration {
			held++
			if held == 1 {
				return 100 * time.Millisecond
			}
			return 0
		}})
	r.SetRoutes(func(onion.NodeID) bool { return true })
	cur, _ := r.Epoch(clk.Now())
	me := onion.Hop{Node: onion.NodeID{1}, Key: ks.Public(cur)[cur], Phase: uint8(cur & 1), Delay: 10 * time.Millisecond}
	next := onion.Hop{Node: onion.NodeID{2}, Key: ks.Public(cur)[cur], Phase: uint8(cur & 1)}
	for i := range 2 {
		pkt, err := onion.DefaultGeometry.NewPacket([]onion.Hop{me, next}, RecipientEcho, []byte{byte(i)})
		if err != nil {
			t.Fatal(err)
		}
		r.Handle(pkt, clk.Now())
	}
	clk.Advance(50 * time.Millisecond)
	if len(out.sent) != 1 {
		t.Fatalf("%d packets left after 50 ms; want the unheld one", len(out.sent))
	}
	clk.Advance(100 * time.Millisecond)
	if len(out.sent) != 2 || held != 2 {
		t.Fatalf("%d packets left, %d held; want 2 and 2", len(out.sent), held)
	}
	// The packets are re-encrypted: tell them apart by unwrapping them at
	// the next hop (the same key here). The first to leave is the second
	// relayed.
	key := ks.lookup(cur, false, uint8(cur&1))
	for i, pkt := range out.sent {
		u, err := onion.DefaultGeometry.Unwrap(key.priv, pkt)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.Payload[0]; got != byte(1-i) {
			t.Fatalf("packet %d to leave carries %d; want %d", i, got, 1-i)
		}
	}
}
