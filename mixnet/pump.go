package mixnet

import (
	"context"
	"time"

	"loam/internal/clock"
	"loam/mixnet/link"
)

// pump writes packets from q to conn until the link fails or ctx ends. It
// packs whatever is already queued (up to maxBatch) into one flush, so under
// load many frames share one system call; sends a padding frame when the
// link has been idle for defaultKeepalive, so a dead link is noticed; fails
// the link when a batch cannot leave within defaultWriteStall (a peer that
// stopped reading); and stops when dead reports the peer gone or ctx ends,
// closing conn so that a write blocked on a stalled peer returns. written is told of every packet
// taken from q, with the write's error: the caller recycles, counts or
// requeues it.
func pump(ctx context.Context, clk clock.Clock, conn *link.Conn, q <-chan []byte, dead <-chan error,
	written func(pkt []byte, err error)) error {
	idle := newTicker(clk, defaultKeepalive)
	defer idle.stop()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	for {
		select {
		case pkt := <-q:
			if err := writeBatch(conn, q, pkt, written); err != nil {
				return err
			}
		case <-idle.c:
			conn.SetWriteDeadline(time.Now().Add(defaultWriteStall))
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
	// A socket deadline is wall time by net.Conn's contract, whatever clock
	// the node runs on.
	conn.SetWriteDeadline(time.Now().Add(defaultWriteStall))
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
