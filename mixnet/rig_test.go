package mixnet_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"loam/mixnet"
	"loam/mixnet/directory"
	"loam/mixnet/link"
	"loam/onion"
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
	replays := func() float64 {
		return testutil.ToFloat64(mix.Metrics().Drops.WithLabelValues(string(mixnet.DropReplay)))
	}
	// The unwrap is counted before the replay check: wait for both.
	deadline := time.Now().Add(10 * time.Second)
	for (unwrapped() < 2 || replays() < 1) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n, got := unwrapped(), replays(); n != 2 || got != 1 {
		t.Fatalf("the restarted mix unwrapped %d packets and counted %v replays, want 2 and 1", n, got)
	}
	r.waitFor(t, 2) // the fresh one went on to the receiver
}

// TestConfigRefusesReplayRateOutOfRange: a false-positive rate at which a
// filter cannot be sized is a configuration error, not a stuck worker.
func TestConfigRefusesReplayRateOutOfRange(t *testing.T) {
	_, id, _ := ed25519.GenerateKey(rand.Reader)
	lk, _ := link.GenerateKeyPair()
	for _, fp := range []float64{1, 1.5, 1e-13} {
		_, err := mixnet.NewNode(mixnet.Config{Name: "m", Role: directory.RoleMix, Layer: 1, Identity: id, Link: lk,
			Listen: "127.0.0.1:0", Network: mixnet.Network{Geometry: onion.DefaultGeometry, EpochPeriod: time.Minute},
			ReplayFP: fp})
		if err == nil || !strings.Contains(err.Error(), "replay_fp") {
			t.Errorf("replay rate %g: %v", fp, err)
		}
	}
}
