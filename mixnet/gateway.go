package mixnet

import (
	"sync"
	"time"

	"loam/mixnet/link"
	"loam/onion"
)

// clients is a gateway's side of its clients: one bounded queue of SURB
// replies per client queue id, drained by the client's link while it is
// connected and kept for a while when it is not, so a client that
// reconnects within the hold time loses nothing. Memory is bounded per
// client and over all clients.
type clients struct {
	n *Node

	mu     sync.Mutex
	queues map[onion.Recipient]*clientQueue
	nHeld  int
}

type clientQueue struct {
	replies []heldReply
	session *clientSession // nil while the client is offline
}

type clientSession struct {
	conn   *link.Conn
	notify chan struct{} // a reply was queued
	gone   chan struct{} // the client's link ended
}

type heldReply struct {
	id     onion.SURBID
	sealed []byte
	at     time.Time
}

// maxHeldTotal caps replies held across all clients: a hostile sender can
// aim SURB replies at any queue id.
const maxHeldTotal = 1 << 16

func newClients(n *Node) *clients {
	return &clients{n: n, queues: map[onion.Recipient]*clientQueue{}}
}

// DeliverReply implements ClientSink.
func (c *clients) DeliverReply(queue onion.Recipient, id onion.SURBID, sealed []byte) {
	r := heldReply{id: id, sealed: append([]byte(nil), sealed...), at: c.n.cfg.Clock.Now()}
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.queues[queue]
	if q == nil {
		q = &clientQueue{}
		c.queues[queue] = q
	}
	if len(q.replies) >= c.n.cfg.ClientHold || c.nHeld >= maxHeldTotal {
		c.n.metrics.drop(DropNoClient)
		return
	}
	q.replies = append(q.replies, r)
	c.nHeld++
	if q.session != nil {
		select {
		case q.session.notify <- struct{}{}:
		default:
		}
	}
}

// take empties a queue for its session's writer.
func (c *clients) take(queue onion.Recipient) []heldReply {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.queues[queue]
	if q == nil {
		return nil
	}
	rs := q.replies
	q.replies = nil
	c.nHeld -= len(rs)
	return rs
}

// putBack returns replies a failed write did not deliver to the front of
// the queue, for the client's next link.
func (c *clients) putBack(queue onion.Recipient, rs []heldReply) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.queues[queue]
	if q == nil {
		q = &clientQueue{}
		c.queues[queue] = q
	}
	q.replies = append(rs, q.replies...)
	c.nHeld += len(rs)
}

// expire forgets replies older than the hold time and the queues of
// offline clients that are empty.
func (c *clients) expire(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, q := range c.queues {
		keep := q.replies[:0]
		for _, r := range q.replies {
			if now.Sub(r.at) < c.n.cfg.ClientHoldFor {
				keep = append(keep, r)
			} else {
				c.n.metrics.drop(DropNoClient)
			}
		}
		c.nHeld -= len(q.replies) - len(keep)
		q.replies = keep
		if len(keep) == 0 && q.session == nil {
			delete(c.queues, id)
		}
	}
}

// serveClient runs a client's link: its packets go to the unwrap workers
// like any other; replies for its queue come back on the same link.
func (n *Node) serveClient(conn *link.Conn) {
	queue := QueueID(conn.Peer())
	s := &clientSession{conn: conn, notify: make(chan struct{}, 1), gone: make(chan struct{})}
	c := n.clients
	c.mu.Lock()
	q := c.queues[queue]
	if q == nil {
		q = &clientQueue{}
		c.queues[queue] = q
	}
	if q.session != nil {
		q.session.conn.Close() // the client reconnected; the new link wins
	}
	q.session = s
	c.mu.Unlock()
	s.notify <- struct{}{} // send what was held
	n.metrics.link("in", "client", 1)
	defer n.metrics.link("in", "client", -1)

	done := make(chan struct{})
	go func() {
		defer close(done)
		n.writeReplies(queue, s)
		// A writer that stopped on an error leaves a link that can carry
		// no replies: close it so the client reconnects.
		conn.Close()
	}()
	n.readPackets(conn, "client")
	close(s.gone)
	conn.Close()
	<-done
	c.mu.Lock()
	if q := c.queues[queue]; q != nil && q.session == s {
		q.session = nil
	}
	c.mu.Unlock()
}

// writeReplies sends the client's queued replies as they come, until the
// link fails; what a failed write leaves undelivered goes back on hold.
func (n *Node) writeReplies(queue onion.Recipient, s *clientSession) {
	frame := make([]byte, onion.NodeIDLen+n.geo.PayloadLen())
	idle := newTicker(n.cfg.Clock, defaultKeepalive)
	defer idle.stop()
	for {
		select {
		case <-s.notify:
			rs := n.clients.take(queue)
			for i, r := range rs {
				copy(frame, r.id[:])
				copy(frame[onion.NodeIDLen:], r.sealed)
				if err := s.conn.WriteFrame(frameReply, frame); err != nil {
					n.clients.putBack(queue, rs[i:])
					return
				}
				n.metrics.frameOut("client")
			}
			if s.conn.Flush() != nil {
				// Written but perhaps not delivered: the message layer's
				// acknowledgements cover this window.
				return
			}
		case <-idle.c:
			if s.conn.WriteKeepalive() != nil || s.conn.Flush() != nil {
				return
			}
		case <-s.gone:
			return
		case <-n.ctx.Done():
			return
		}
	}
}
