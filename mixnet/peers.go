package mixnet

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"loam/mixnet/directory"
	"loam/mixnet/link"
	"loam/onion"
)

// outLink is this node's link to one next hop: a bounded queue drained by a
// writer goroutine that packs as many frames as are waiting into one socket
// write, and a dialer that reconnects with backoff and keeps the queue
// meanwhile, so a peer's restart costs delay, not packets, until the queue
// fills.
type outLink struct {
	n    *Node
	id   onion.NodeID
	q    chan []byte
	up   atomic.Bool   // a link is established
	kick chan struct{} // cuts a redial backoff short: the directory changed
}

// Send implements Outbox: it queues pkt on the link to next, creating the
// link on first use. A full queue drops the packet.
func (n *Node) Send(next onion.NodeID, pkt []byte) {
	if n.cfg.DropOutgoing != nil && n.cfg.DropOutgoing(next) {
		n.metrics.drop(DropInjected)
		n.buffers.put(pkt)
		return
	}
	l := n.outLink(next)
	if l == nil {
		n.metrics.drop(DropLinkDown)
		return
	}
	select {
	case l.q <- pkt:
	default:
		n.metrics.drop(DropOverload)
		n.buffers.put(pkt)
	}
}

func (n *Node) outLink(id onion.NodeID) *outLink {
	n.linksMu.Lock()
	defer n.linksMu.Unlock()
	if l, ok := n.links[id]; ok {
		return l
	}
	if n.closing {
		return nil
	}
	l := &outLink{n: n, id: id, q: make(chan []byte, n.cfg.LinkQueue), kick: make(chan struct{}, 1)}
	n.links[id] = l
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		l.run(n.ctx)
	}()
	return l
}

// forget removes the link once its node has left the directory, dropping
// what it still holds.
func (l *outLink) forget() {
	l.n.linksMu.Lock()
	delete(l.n.links, l.id)
	l.n.linksMu.Unlock()
	for {
		select {
		case pkt := <-l.q:
			l.n.metrics.drop(DropLinkDown)
			l.n.buffers.put(pkt)
		default:
			return
		}
	}
}

func (l *outLink) run(ctx context.Context) {
	backoff := defaultRedial
	for ctx.Err() == nil {
		d := l.n.topo.node(l.id)
		if d == nil {
			l.forget()
			return
		}
		conn, err := l.dial(ctx, d)
		if err != nil {
			if ctx.Err() == nil {
				l.n.log.Debug("link dial failed", "peer", d.Name, "addr", d.Address, "err", err)
			}
			if !l.backoff(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, defaultMaxRedial)
			continue
		}
		backoff = defaultRedial
		l.n.metrics.link("out", "node", 1)
		l.up.Store(true)
		err = l.serve(ctx, conn)
		l.up.Store(false)
		l.n.metrics.link("out", "node", -1)
		conn.Close()
		if ctx.Err() == nil {
			l.n.log.Info("link to next hop lost; redialling", "peer", d.Name, "err", err)
		}
	}
}

// backoff waits d before a redial, or less if the directory changes.
func (l *outLink) backoff(ctx context.Context, d time.Duration) bool {
	ch := make(chan struct{})
	t := l.n.cfg.Clock.AfterFunc(d, func() { close(ch) })
	defer t.Stop()
	select {
	case <-ch:
	case <-l.kick:
	case <-ctx.Done():
		return false
	}
	return true
}

func (l *outLink) wake() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

func (l *outLink) dial(ctx context.Context, d *directory.Descriptor) (*link.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, l.n.linkCfg.HandshakeTimeout)
	defer cancel()
	raw, err := l.n.cfg.Transport.Dial(dctx, d.Address)
	if err != nil {
		return nil, fmt.Errorf("mixnet: dialling %s: %w", d.Address, err)
	}
	conn, err := link.Client(dctx, raw, l.n.linkCfg, link.PublicKey(d.LinkKey))
	if err != nil {
		raw.Close()
		return nil, err
	}
	if err := awaitReady(dctx, raw, conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("mixnet: %s refused the link: %w", d.Name, err)
	}
	return conn, nil
}

// awaitReady reads the responder's ready frame: until it arrives the
// initiator cannot know that its key was accepted.
func awaitReady(ctx context.Context, raw net.Conn, conn *link.Conn) error {
	if dl, ok := ctx.Deadline(); ok {
		raw.SetReadDeadline(dl)
		defer raw.SetReadDeadline(time.Time{})
	}
	typ, _, err := conn.ReadFrame()
	if err != nil {
		return err
	}
	if typ != frameReady {
		return fmt.Errorf("first frame of type %#x, want ready", typ)
	}
	return nil
}

// serve writes queued packets until the link fails or the node stops. A
// reader goroutine notices the peer closing.
func (l *outLink) serve(ctx context.Context, conn *link.Conn) error {
	dead := make(chan error, 1)
	go func() {
		for {
			if _, _, err := conn.ReadFrame(); err != nil {
				dead <- err
				return
			}
		}
	}()
	return pump(ctx, l.n.cfg.Clock, conn, l.q, dead, func(pkt []byte, err error) {
		l.n.buffers.put(pkt) // WriteFrame sealed a copy
		if err != nil {
			l.n.metrics.drop(DropLinkDown)
			return
		}
		l.n.metrics.frameOut("node")
	})
}

// wait blocks for d on the node's clock, or until ctx ends; it reports
// whether the full time passed.
func (n *Node) wait(ctx context.Context, d time.Duration) bool { return sleep(ctx, n.cfg.Clock, d) }
