package mixnet_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
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
