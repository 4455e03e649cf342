package cover

import (
	"testing"
)

// BenchmarkClientStreams measures the cost of one scheduled packet of a
// client running its three streams on a virtual clock, a third of the
// real-or-drop slots carrying a real packet: drawing the gap, arming the
// timer, choosing and handing over the packet. The packets themselves are
// prebuilt (building them is the Maker's cost, not this package's).
func BenchmarkClientStreams(b *testing.B) {
	v := newVirtual()
	pkt := make([]byte, 2457)
	var id LoopID
	m := benchMaker{pkt: pkt, id: id}
	c := NewClient(ClientConfig{Clock: v, Rates: Rates{RealOrDrop: 2, Loop: 0.5, Drop: 0.5}, Maker: m,
		Send: func([]byte) error { return nil }, MaxWait: -1})
	c.Start()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%6 == 0 {
			_ = c.Enqueue(pkt)
		}
		v.Step()
	}
	b.StopTimer()
	s := c.Stats()
	if s.Real+s.Drop+s.Loop+s.DropStream != uint64(b.N) {
		b.Fatalf("%d steps sent %+v", b.N, s)
	}
}

type benchMaker struct {
	pkt []byte
	id  LoopID
}

func (m benchMaker) DropPacket() ([]byte, error)         { return m.pkt, nil }
func (m benchMaker) LoopPacket() ([]byte, LoopID, error) { return m.pkt, m.id, nil }
