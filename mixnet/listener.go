package mixnet

import (
	"context"
	"errors"
	"io"
	"net"
	"time"

	"loam/mixnet/link"
)

// inbound is a packet read from a link, waiting for an unwrap worker.
type inbound struct {
	pkt      []byte
	received time.Time
}

// acceptLoop hands each accepted connection to its own goroutine, with a cap
// on handshakes in progress so that a flood of half-open connections cannot
// exhaust the node.
func (n *Node) acceptLoop(ln net.Listener) {
	defer n.wg.Done()
	for {
		raw, err := ln.Accept()
		if err != nil {
			if n.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			n.log.Warn("accept failed", "err", err)
			if !n.wait(n.ctx, 50*time.Millisecond) {
				return
			}
			continue
		}
		select {
		case n.handshakes <- struct{}{}:
		default:
			n.metrics.drop(DropOverload)
			raw.Close()
			continue
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.serveConn(raw)
		}()
	}
}

// serveConn completes the handshake and reads packets until the link ends.
func (n *Node) serveConn(raw net.Conn) {
	conn, err := link.Server(n.ctx, raw, n.linkCfg)
	<-n.handshakes
	if err != nil {
		raw.Close()
		if errors.Is(err, link.ErrUnauthorized) {
			n.metrics.drop(DropUnknownPeer)
			n.log.Info("refused a link from a key the topology does not allow", "remote", raw.RemoteAddr())
			n.syncSoon() // perhaps this node's directory is the one behind
		} else {
			n.metrics.drop(DropBadFrame)
			n.log.Debug("handshake failed", "remote", raw.RemoteAddr(), "err", err)
		}
		return
	}
	if !n.track(conn) {
		conn.Close()
		return
	}
	defer n.untrack(conn)
	if conn.WriteFrame(frameReady, nil) != nil || conn.Flush() != nil {
		return
	}
	if n.topo.sender(conn.Peer()) != nil {
		n.metrics.link("in", "node", 1)
		defer n.metrics.link("in", "node", -1)
		n.readPackets(conn, "node")
		return
	}
	// authorize let an unknown key through only on a gateway: a client, or
	// a node of a document this gateway has not fetched yet, whose packets
	// are handled the same way; fetch early to tell them apart.
	n.syncSoon()
	n.serveClient(conn)
}

// authorize is the link layer's Authorize callback: the topology decides who
// may send to this node; a gateway also accepts any key no node uses.
func (n *Node) authorize(peer link.PublicKey) error {
	if n.topo.sender(peer) != nil {
		return nil
	}
	if n.cfg.Role == roleGateway && !n.topo.knows(peer) {
		return nil
	}
	return errors.New("mixnet: peer is not allowed to send to this node")
}

// readPackets feeds every packet frame on conn to the unwrap workers. A full
// work queue drops the packet: a node sheds load rather than slowing its
// links for everyone.
func (n *Node) readPackets(conn *link.Conn, kind string) {
	for {
		typ, body, err := conn.ReadFrame()
		if err != nil {
			if n.ctx.Err() == nil && !isEOF(err) {
				n.metrics.drop(DropBadFrame)
				n.log.Debug("link read failed", "kind", kind, "err", err)
			}
			return
		}
		n.metrics.frameIn(kind)
		if typ != framePacket {
			n.metrics.drop(DropBadFrame)
			continue
		}
		pkt := n.buffers.get()
		copy(pkt, body)
		select {
		case n.work <- inbound{pkt: pkt, received: n.cfg.Clock.Now()}:
		default:
			n.metrics.drop(DropOverload)
			n.buffers.put(pkt)
		}
	}
}

func (n *Node) worker() {
	defer n.wg.Done()
	for {
		select {
		case in := <-n.work:
			if !n.router.Handle(in.pkt, in.received) {
				n.buffers.put(in.pkt)
			}
		case <-n.ctx.Done():
			return
		}
	}
}

func (n *Node) track(c *link.Conn) bool {
	n.linksMu.Lock()
	defer n.linksMu.Unlock()
	if n.closing {
		return false
	}
	n.conns[c] = struct{}{}
	return true
}

func (n *Node) untrack(c *link.Conn) {
	n.linksMu.Lock()
	delete(n.conns, c)
	n.linksMu.Unlock()
	c.Close()
}

// isEOF reports an orderly end of a link rather than a fault.
func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, context.Canceled)
}
