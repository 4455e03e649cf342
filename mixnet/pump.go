package mixnet

import (
	"context"

	"loam/internal/clock"
	"loam/mixnet/link"
)

// pump writes packets from q to conn until the link fails or ctx ends. It
// packs whatever is already queued (up to maxBatch) into one flush, so under
// load many frames share one system call; sends a padding frame when the
// link has been idle for defaultKeepalive, so a dead link is noticed; and
// stops when dead reports the peer gone. written is told of every packet
// taken from q, with the write's error: the caller recycles, counts or
// requeues it.
func pump(ctx context.Context, clk clock.Clock, conn *link.Conn, q <-chan []byte, dead <-chan error,
	written func(pkt []byte, err error)) error {
	idle := newTicker(clk, defaultKeepalive)
	defer idle.stop()
	for {
		select {
		case pkt := <-q:
			if err := writeBatch(conn, q, pkt, written); err != nil {
				return err
			}
		case <-idle.c:
			if err := conn.WriteKeepalive(); err != nil {
				return err
			}
			if err := conn.Flush(); err != nil {
				return err
			}
		case err := <-dead:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// writeBatch writes pkt and whatever else is already queued, then flushes
// once.
func writeBatch(conn *link.Conn, q <-chan []byte, pkt []byte, written func([]byte, error)) error {
	for n := 1; ; n++ {
		err := conn.WriteFrame(framePacket, pkt)
		written(pkt, err)
		if err != nil {
			return err
		}
		if n == maxBatch {
			break
		}
		select {
		case pkt = <-q:
			continue
		default:
		}
		break
	}
	return conn.Flush()
}

const maxBatch = 64
