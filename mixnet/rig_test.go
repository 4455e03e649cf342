package mixnet_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"loam/mixnet"
)

// TestMixRelaysBurstsWithoutLoss sends bursts far larger than a link's
// write batch through one mix: every packet comes out, none is dropped.
func TestMixRelaysBurstsWithoutLoss(t *testing.T) {
	r := newMixRig(t)
	pkts := r.packets(t, 600)
	for i, p := range pkts {
		if err := r.send.WriteFrame(0x01, p); err != nil {
			t.Fatal(err)
		}
		if i%200 == 199 {
			if err := r.send.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	r.waitFor(t, int64(len(pkts)))
	if got := testutil.CollectAndCount(r.mix.Metrics().Drops); got != 0 {
		t.Fatalf("%d drop series recorded", got)
	}
}

// TestStalledNextHopHoldsNoWorker: a next hop that stops reading, its
// link still open, must not stall the mix: every packet sent in after the
// stall is still unwrapped (and queued or dropped for the stalled link),
// and the node's Close returns although the link's writer is blocked in a
// socket write (it used to wait for it forever).
func TestStalledNextHopHoldsNoWorker(t *testing.T) {
	r := newMixRig(t)
	r.stalled.Store(true)
	// Far more than loopback's socket buffers hold: the mix's writes to
	// the receiver must block at some point.
	const n = 6000
	pkts := r.packets(t, n)
	for i, p := range pkts {
		if err := r.send.WriteFrame(0x01, p); err != nil {
			t.Fatal(err)
		}
		if i%64 == 63 {
			if err := r.send.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := r.send.Flush(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for unwrapped(r.mix) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d packets unwrapped 30 s after they were sent: the workers wait on the stalled next hop", unwrapped(r.mix), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// unwrapped is the number of packets a node has unwrapped.
func unwrapped(n *mixnet.Node) uint64 {
	var m dto.Metric
	if err := n.Metrics().Unwrap.Write(&m); err != nil {
		panic(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// TestMixRemembersReplaysAcrossRestart: a mix stopped and started again
// within the epoch, from the same data directory, still drops a packet it
// relayed before the stop, and relays a fresh one.
func TestMixRemembersReplaysAcrossRestart(t *testing.T) {
	r := newMixRig(t)
	pkts := r.packets(t, 2)
	if err := r.send.WriteFrame(0x01, pkts[0]); err != nil {
		t.Fatal(err)
	}
	if err := r.send.Flush(); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, 1)
	if err := r.mix.Close(); err != nil {
		t.Fatal(err)
	}
	mix := r.startMix(t)
	if err := mix.AddDocument(r.doc); err != nil {
		t.Fatal(err)
	}
	conn := r.ends.dialMix(t, mix.Addr().String())
	for _, p := range [][]byte{pkts[0], pkts[1]} {
		if err := conn.WriteFrame(0x01, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.Flush(); err != nil {
		t.Fatal(err)
	}
	unwrapped := func() uint64 {
		m := &dto.Metric{}
		if err := mix.Metrics().Unwrap.Write(m); err != nil {
			t.Fatal(err)
		}
		return m.GetHistogram().GetSampleCount()
	}
	deadline := time.Now().Add(10 * time.Second)
	for unwrapped() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := unwrapped(); n != 2 {
		t.Fatalf("the restarted mix unwrapped %d packets, want 2", n)
	}
	if got := testutil.ToFloat64(mix.Metrics().Drops.WithLabelValues(string(mixnet.DropReplay))); got != 1 {
		t.Fatalf("the restarted mix counted %v replays, want 1", got)
	}
}
