package mixnet

import (
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"loam/cover"
	"loam/internal/xrand"
	"loam/mixnet/directory"
	"loam/onion"
)

// Cover traffic (SPEC.md §6): a client's real-or-drop, loop and drop
// streams and a node's own loops, at the rates of the current directory.

func ratesOf(p directory.Parameters) cover.Rates {
	return cover.Rates{RealOrDrop: p.LambdaP, Loop: p.LambdaL, Drop: p.LambdaD}
}

// clientMaker builds a client's cover packets.
type clientMaker struct {
	c     *Client
	loops *cover.LoopTracker
}

func (m clientMaker) DropPacket() ([]byte, error) { return m.c.DropPacket() }

func (m clientMaker) LoopPacket() ([]byte, cover.LoopID, error) {
	var id cover.LoopID
	pkt, sid, err := m.c.LoopPacket(func() { m.loops.Returned(id) })
	id = cover.LoopID(sid) // set before the packet leaves, so before it can return
	return pkt, id, err
}

// startCover turns on the client's cover streams at doc's rates; from then
// on real packets leave only in real-or-drop slots.
func (c *Client) startCover(doc *directory.Document) {
	lc := c.cfg.Loops
	lc.Clock, lc.Logger = c.cfg.Clock, c.log
	c.loops = cover.NewLoopTracker(lc)
	// A packet is built with its epoch's keys; waiting longer than half the
	// grace window for a slot risks arriving after the keys are gone.
	maxWait := min(cover.DefaultMaxWait, doc.Params.Grace/2)
	c.cover = cover.NewClient(cover.ClientConfig{
		Clock: c.cfg.Clock, Rates: ratesOf(doc.Params), Maker: clientMaker{c, c.loops},
		Send: c.Send, Loops: c.loops, MaxWait: maxWait, Logger: c.log,
	})
	c.SetSender(c.cover.Enqueue)
	c.cover.Start()
	c.loops.Start()
}

// CoverStatus reports the client's cover streams and loop accounting; ok is
// false when cover traffic is off.
func (c *Client) CoverStatus() (stats cover.ClientStats, loops cover.Report, ok bool) {
	if c.cover == nil {
		return stats, loops, false
	}
	return c.cover.Stats(), c.loops.Last(), true
}

// QueueDelay estimates how long a real packet queued now waits for its
// slot: the queue's length over the real-or-drop rate.
func (c *Client) QueueDelay() time.Duration {
	if c.cover == nil {
		return 0
	}
	doc, err := c.Document()
	if err != nil || doc.Params.LambdaP <= 0 {
		return 0
	}
	return time.Duration(float64(c.cover.Stats().Queued+1) / doc.Params.LambdaP * float64(time.Second))
}

// Node loops.

// nodeMaker builds a node's loop packets: out through the layers after the
// node, around through the service layer and layer 1, and back to the node
// itself (SPEC.md §6.4). The packet is prefixed with its first hop's id.
type nodeMaker struct{ n *Node }

func (m nodeMaker) DropPacket() ([]byte, error) {
	return nil, errors.New("mixnet: nodes send no drop packets")
}

func (m nodeMaker) LoopPacket() ([]byte, cover.LoopID, error) {
	var id cover.LoopID
	n := m.n
	doc := n.topo.current(n.epochAt(n.cfg.Clock.Now()))
	if doc == nil {
		return nil, id, ErrNoDirectory
	}
	path, err := n.loopPath(doc)
	if err != nil {
		return nil, id, err
	}
	if _, err := rand.Read(id[:]); err != nil {
		return nil, id, err
	}
	payload, err := NewRequestPayload(n.geo, nil, id[:])
	if err != nil {
		return nil, id, err
	}
	pkt, err := n.geo.NewPacket(path, RecipientLoop, payload)
	if err != nil {
		return nil, id, err
	}
	return append(path[0].Node[:], pkt...), id, nil
}

// sendLoop sends a packet made by nodeMaker to its first hop.
func (n *Node) sendLoop(b []byte) error {
	if len(b) != onion.NodeIDLen+n.geo.PacketLen() {
		return errors.New("mixnet: loop packet of the wrong length")
	}
	n.Send(onion.NodeID(b[:onion.NodeIDLen]), b[onion.NodeIDLen:])
	return nil
}

// loopPath returns the path of this node's loops in doc.
func (n *Node) loopPath(doc *directory.Document) ([]onion.Hop, error) {
	self := doc.Node(n.ID())
	if self == nil {
		return nil, fmt.Errorf("mixnet: this node is not in the directory of epoch %d", doc.Epoch)
	}
	var nodes []*directory.Descriptor
	pickMix := func(layer int) error {
		mixes := doc.Layer(layer)
		if len(mixes) == 0 {
			return fmt.Errorf("mixnet: no mix in layer %d", layer)
		}
		nodes = append(nodes, mixes[xrand.IntN(len(mixes))])
		return nil
	}
	switch n.cfg.Role {
	case directory.RoleGateway:
		for l := 1; l <= 3; l++ {
			if err := pickMix(l); err != nil {
				return nil, err
			}
		}
	case directory.RoleMix:
		for l := n.cfg.Layer + 1; l <= 3; l++ {
			if err := pickMix(l); err != nil {
				return nil, err
			}
		}
		services := doc.ByRole(directory.RoleService)
		if len(services) == 0 {
			return nil, errors.New("mixnet: no service node")
		}
		nodes = append(nodes, services[xrand.IntN(len(services))])
		for l := 1; l < n.cfg.Layer; l++ {
			if err := pickMix(l); err != nil {
				return nil, err
			}
		}
	default:
		return nil, errors.New("mixnet: only gateways and mixes send loops")
	}
	nodes = append(nodes, self)
	path := make([]onion.Hop, len(nodes))
	for i, d := range nodes {
		k, ok := d.OnionKey(doc.Epoch)
		if !ok {
			return nil, fmt.Errorf("mixnet: node %s has no key for epoch %d", d.Name, doc.Epoch)
		}
		var delay time.Duration
		if d.Role == directory.RoleMix {
			delay = xrand.Exp(doc.Params.Mu)
		}
		path[i] = onion.Hop{Node: d.ID(), Key: k, Phase: uint8(doc.Epoch & 1), Delay: delay}
	}
	return path, nil
}

// startLoops makes the node's loop tracker and stream; the stream starts
// sending once a directory sets its rate.
func (n *Node) startLoops() {
	if n.cfg.Role == directory.RoleService {
		return
	}
	lc := n.cfg.Loops
	lc.Clock, lc.Logger = n.cfg.Clock, n.log
	user := lc.OnAlarm
	lc.OnAlarm = func(r cover.Report) {
		n.metrics.loopReport(r)
		if r.Alarm {
			n.log.Warn("loop loss exceeds what link loss explains: an n-1 attack or a failing mix",
				"lost", r.Lost, "judged", r.Judged, "loss", r.Loss, "p", r.PValue)
		}
		if user != nil {
			user(r)
		}
	}
	n.loops = cover.NewLoopTracker(lc)
	n.loopStream = cover.NewNodeLoops(n.cfg.Clock, 0, nodeMaker{n}, n.sendLoop, n.loops)
	n.loops.Start()
	n.loopStream.Start()
}

// LoopReport is the node's latest loop accounting.
func (n *Node) LoopReport() cover.Report {
	if n.loops == nil {
		return cover.Report{}
	}
	return n.loops.Last()
}
