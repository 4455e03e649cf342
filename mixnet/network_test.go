package mixnet_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"loam/internal/testnet"
	"loam/mixnet"
	"loam/mixnet/directory"
	"loam/mixnet/link"
)

// TestNetworkEchoInProcess: 3 authorities, a gateway, 2 mixes in each of 3
// layers and a service node, in-process over TCP on 127.0.0.1 with every
// socket write recorded. 1,000 packets on random paths reach the echo
// service and every answer comes back by SURB; every write on every link is
// a whole number of frames of one size.
func TestNetworkEchoInProcess(t *testing.T) {
	rec := link.NewRecording(link.TCP{})
	net := testnet.Start(t, testnet.Options{Transport: rec})
	c := net.NewClient(t)
	net.WaitReady(t, c)
	if got := testnet.EchoRound(t, c, 1000, 60*time.Second); got != 1000 {
		t.Fatalf("%d of 1000 echo replies came back", got)
	}
	w := (&link.Config{FrameLen: net.Params.Geometry().PacketLen()}).WireFrameLen()
	writes := rec.Writes()
	if len(writes) == 0 {
		t.Fatal("no writes recorded")
	}
	for _, n := range writes {
		if n <= 0 || n%w != 0 {
			t.Fatalf("a link write of %d bytes: not a whole number of %d-byte frames", n, w)
		}
	}
}

func dropCount(net *testnet.Network, node *mixnet.Node, reason mixnet.DropReason) float64 {
	return testutil.ToFloat64(node.Metrics().Drops.WithLabelValues(string(reason)))
}

// TestNetworkDropsReplayedAndTamperedPackets sends one packet three times,
// the third time with a flipped bit: the gateway forwards it once, drops the
// replay and the tampered copy, and counts each.
func TestNetworkDropsReplayedAndTamperedPackets(t *testing.T) {
	net := testnet.Start(t, testnet.Options{})
	c := net.NewClient(t)
	net.WaitReady(t, c)
	services, _ := c.Services("echo")
	pkt, _, err := c.NewRequest(services[0], "echo", []byte("once"))
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(pkt)
	tampered[200] ^= 0x10
	for _, p := range [][]byte{bytes.Clone(pkt), bytes.Clone(pkt), tampered} {
		if err := c.Send(p); err != nil {
			t.Fatal(err)
		}
	}
	gw := net.Nodes[0]
	waitFor(t, func() bool {
		return dropCount(net, gw, mixnet.DropReplay) == 1 && dropCount(net, gw, mixnet.DropMAC) == 1
	})
	select {
	case <-c.Replies():
	case <-time.After(20 * time.Second):
		t.Fatal("the original packet's reply never came")
	}
	select {
	case r := <-c.Replies():
		t.Fatalf("a second reply %v: the replay was not dropped", r.ID)
	case <-time.After(500 * time.Millisecond):
	}
}

// TestNetworkRefusesUnknownNodes dials a mix with a key the directory does
// not list: the handshake fails, the mix counts it and keeps serving.
func TestNetworkRefusesUnknownNodes(t *testing.T) {
	network := testnet.Start(t, testnet.Options{})
	c := network.NewClient(t)
	network.WaitReady(t, c)
	doc, _ := c.Document()
	mix := doc.Layer(2)[0]
	stranger, _ := link.GenerateKeyPair()
	cfg := &link.Config{FrameLen: network.Params.Geometry().PacketLen(), Static: stranger,
		Prologue: network.Network().Prologue(), HandshakeTimeout: 5 * time.Second}
	raw, err := net.Dial("tcp", mix.Address)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := link.Client(context.Background(), raw, cfg, link.PublicKey(mix.LinkKey))
	if err == nil {
		// XK completes on the initiator's side before the responder has
		// judged the key; the refusal shows as a closed link.
		raw.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err = conn.ReadFrame(); err == nil {
			t.Fatal("an unknown node's link carried a frame")
		}
	}
	raw.Close()
	var node *mixnet.Node
	for _, n := range network.Nodes {
		if n.ID() == mix.ID() {
			node = n
		}
	}
	waitFor(t, func() bool { return dropCount(network, node, mixnet.DropUnknownPeer) >= 1 })
	if got := testnet.EchoRound(t, c, 20, 20*time.Second); got != 20 {
		t.Fatalf("after the refusal %d of 20 echoes came back", got)
	}
}

// TestNetworkSurvivesGarbage sends garbage, truncated handshakes and idle
// connections to every node's port and every authority's: each connection
// is closed and the network keeps serving.
func TestNetworkSurvivesGarbage(t *testing.T) {
	network := testnet.Start(t, testnet.Options{})
	c := network.NewClient(t)
	network.WaitReady(t, c)
	junk := make([]byte, 8192)
	rand.Read(junk)
	var addrs []string
	for _, n := range network.Nodes {
		addrs = append(addrs, n.Addr().String())
	}
	for _, p := range network.Peers {
		addrs = append(addrs, p.URL[len("http://"):])
	}
	for _, a := range addrs {
		for _, size := range []int{0, 1, 47, 48, 2473, 2474, 2475, 8192} {
			conn, err := net.Dial("tcp", a)
			if err != nil {
				t.Fatalf("dial %s: %v", a, err)
			}
			conn.Write(junk[:size])
			conn.Close()
		}
	}
	if got := testnet.EchoRound(t, c, 50, 30*time.Second); got != 50 {
		t.Fatalf("after garbage %d of 50 echoes came back", got)
	}
}

// TestNetworkEpochRollover keeps 1,000 requests in flight across an epoch
// boundary (mean mixing delay 200 ms a hop): none is lost.
func TestNetworkEpochRollover(t *testing.T) {
	p := testnet.TestParameters()
	// Seven hops of 100 ms mean delay put a packet mid-path for about a
	// second. The grace window must cover the slowest packet's whole trip,
	// queues included: under the race detector on a loaded 2-core machine
	// those reach seconds, and a 3-s grace with 200-ms hops lost one echo
	// in a thousand there.
	p.Mu = 100 * time.Millisecond
	p.EpochPeriod = 8 * time.Second
	p.Grace = 6 * time.Second
	network := testnet.Start(t, testnet.Options{Params: p})
	c := network.NewClient(t)
	network.WaitReady(t, c)
	// Start sending 1 s before a boundary, so packets built with the old
	// epoch's keys are mid-path when it turns.
	period := p.EpochPeriod
	now := time.Now()
	boundary := now.Truncate(period).Add(period)
	if boundary.Sub(now) < 1500*time.Millisecond {
		boundary = boundary.Add(period)
	}
	time.Sleep(time.Until(boundary.Add(-time.Second)))
	if got := testnet.EchoRound(t, c, 1000, 60*time.Second); got != 1000 {
		t.Fatalf("%d of 1000 echoes survived the epoch rollover", got)
	}
	if time.Now().Before(boundary) {
		t.Fatal("the round ended before the boundary; nothing was tested")
	}
}

// TestDocumentWithTooFewSignaturesRefused: a fetcher that trusts keys of
// which only one signed cannot reach its threshold.
func TestDocumentWithTooFewSignaturesRefused(t *testing.T) {
	network := testnet.Start(t, testnet.Options{})
	f := network.Fetcher(t.TempDir())
	f.Authorities = append(f.Authorities[:1:1], fakePeer(), fakePeer())
	f.Threshold = 2
	if _, err := f.Current(context.Background()); err == nil {
		t.Fatal("a document with one trusted signature met a threshold of 2")
	}
}

func fakePeer() directory.Peer {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	return directory.Peer{Key: pub, URL: "http://127.0.0.1:1"}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
