package link

import (
	"testing"

	"loam/internal/benchfloor"
)

// BenchmarkLinkFrames pushes full default-geometry frames through one link
// over loopback TCP, a writer goroutine sending and a reader goroutine
// receiving, as the node layer runs a link. frames/s is the link's rate.
func BenchmarkLinkFrames(b *testing.B) {
	ccfg, scfg := configs(b)
	c, s := linkPair(b, TCP{}, ccfg, scfg)
	body := make([]byte, ccfg.FrameLen)
	b.SetBytes(int64(ccfg.FrameLen))
	b.ReportAllocs()
	read := make(chan error, 1)
	b.ResetTimer()
	go func() {
		for range b.N {
			if _, _, err := s.ReadFrame(); err != nil {
				read <- err
				return
			}
		}
		read <- nil
	}()
	for i := range b.N {
		if err := c.WriteFrame(1, body); err != nil {
			b.Fatal(err)
		}
		if i%16 == 15 {
			if err := c.Flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := c.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := <-read; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}

// BenchmarkHandshake is one whole handshake, both sides, over Memory. Its
// x25519-ratio is against one X25519 multiplication; XK costs each side
// three DHs and one key generation, eight multiplications in all.
func BenchmarkHandshake(b *testing.B) {
	ccfg, scfg := configs(b)
	mem := NewMemory()
	benchfloor.Ratio(b, "x25519-ratio", func() {
		d, a := rawPair(b, mem, nil)
		r := handshakeOver(d, a, ccfg, scfg, scfg.Static.Public)
		if r.clientErr != nil || r.serverErr != nil {
			b.Fatal(r.clientErr, r.serverErr)
		}
		r.client.Close()
		r.server.Close()
	})
}
