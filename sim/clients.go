package sim

import (
	"loam/cover"
	"loam/mixnet"
	"loam/onion"
)

// client is one user's client: its gateway, its friends and its cover
// streams (the real cover.Client), or, with cover off, a client that sends
// each real packet the moment it has one.
type client struct {
	idx     int
	ep      endpoint
	gw      int // node index
	friends []int32
	poster  bool
	cover   *cover.Client // nil with cover off
}

// post is one post: its author, when, and what became of its packets.
type post struct {
	author    int32
	at        int64 // queued, ns
	friends   int32
	delivered int32
	first     int64 // first header packet at a friend, ns; 0 before
}

func (w *world) buildClients() {
	sc := w.sc
	n := sc.Users.Count
	w.clients = make([]*client, n)
	for i := range n {
		w.clients[i] = &client{idx: i, ep: endpoint(i), gw: w.gateways[i%len(w.gateways)]}
	}
	// Posters: a seeded random subset.
	perm := w.urng.Perm(n)
	np := int(sc.Users.Posters*float64(n) + 0.5)
	for _, i := range perm[:np] {
		w.clients[i].poster = true
	}
	for i, fs := range friendGraph(w.urng, n, sc.Users.Friends, sc.Users.Graph) {
		w.clients[i].friends = fs
	}
}

// startClients starts every client's cover streams (or none) and the
// users' posts and fetches.
func (w *world) startClients() {
	sc := w.sc
	maxWait := min(cover.DefaultMaxWait, sc.Topology.Grace.Duration/2)
	if sc.CoverOn() {
		rates := cover.Rates{RealOrDrop: sc.Rates.LambdaP, Loop: sc.Rates.LambdaL, Drop: sc.Rates.LambdaD}
		for _, c := range w.clients {
			c := c
			c.cover = cover.NewClient(cover.ClientConfig{
				Clock: w.clk, Rates: rates, Maker: clientMaker{w, c},
				Send:    func(pkt []byte) error { w.clientSend(c, pkt); return nil },
				MaxWait: maxWait, Logger: w.log,
				OnExpire: func(pkt []byte) {
					w.acct.expired++
					w.free(pkt)
				},
			})
			c.cover.Start()
		}
	}
	var posters []int32
	for _, c := range w.clients {
		if c.poster && len(c.friends)+sc.Users.PostPackets > 0 {
			posters = append(posters, int32(c.idx))
		}
	}
	if rate := float64(len(posters)) * sc.Users.PostsPerHour / 3600; rate > 0 {
		w.poisson(rate, func() { w.post(w.clients[posters[w.urng.IntN(len(posters))]]) })
	}
	if rate := float64(len(w.clients)) * sc.Users.FetchesPerHour / 3600; rate > 0 {
		w.poisson(rate, func() { w.fetch(w.clients[w.urng.IntN(len(w.clients))]) })
	}
}

// poisson calls f at the events of a Poisson process of the given rate
// (per second), from the scenario's PRNG: the users' behaviour, which is
// no part of the protocol.
func (w *world) poisson(rate float64, f func()) {
	var tick func()
	tick = func() {
		f()
		w.clk.AfterFunc(expRand(w.urng, rate), tick)
	}
	w.clk.AfterFunc(expRand(w.urng, rate), tick)
}

// queue hands a user's real packet to the client: into the real-or-drop
// queue, or straight onto the link with cover off.
func (w *world) queue(c *client, pkt []byte, tr truth, rec pendingRec) {
	rec.at = w.now()
	w.pending[tr.id] = rec
	w.acct.built(tr.kind)
	if c.cover == nil {
		w.clientSend(c, pkt)
		return
	}
	if err := c.cover.Enqueue(pkt); err != nil {
		w.acct.refused++
		delete(w.pending, tr.id)
		w.free(pkt)
	}
}

// forwardPath is gateway, one random mix per layer, then last.
func (w *world) forwardPath(c *client, last int) []int {
	L := w.sc.Topology.Layers
	path := make([]int, 0, L+2)
	path = append(path, c.gw)
	for l := 1; l <= L; l++ {
		path = append(path, w.randomMix(l))
	}
	return append(path, last)
}

// post queues one post: a header packet straight to each friend's queue at
// the friend's gateway (the pessimistic case of a friend who reads at once;
// see docs/sim.md), and the content packets to a mailbox service.
func (w *world) post(c *client) {
	p := int32(len(w.acct.posts))
	w.acct.posts = append(w.acct.posts, post{author: int32(c.idx), at: w.now(), friends: int32(len(c.friends))})
	for _, f := range c.friends {
		fr := w.clients[f]
		tr := truth{id: w.newID(), sender: c.ep, kind: KindPost, aux: uint32(p) + 1}
		pkt, _, err := w.build(tr, w.forwardPath(c, fr.gw), final{cmd: cmdSURBReply, rcpt: queueID(int(f))}, nil)
		if err != nil {
			w.acct.buildErrors++
			continue
		}
		w.queue(c, pkt, tr, pendingRec{kind: KindPost, from: c.ep, post: p})
	}
	for range w.sc.Users.PostPackets {
		tr := truth{id: w.newID(), sender: c.ep, kind: KindShard}
		pkt, _, err := w.build(tr, w.forwardPath(c, w.randomService()), final{cmd: cmdDeliver, rcpt: recipientMailbox}, nil)
		if err != nil {
			w.acct.buildErrors++
			continue
		}
		w.queue(c, pkt, tr, pendingRec{kind: KindShard, from: c.ep})
	}
}

// fetch queues a mailbox fetch carrying a reply block back to the client.
func (w *world) fetch(c *client) {
	svc := w.randomService()
	L := w.sc.Topology.Layers
	back := make([]int, 0, L+1)
	for l := 1; l <= L; l++ {
		back = append(back, w.randomMix(l))
	}
	back = append(back, c.gw)
	reply := truth{id: w.newID(), sender: w.nodes[svc].ep, kind: KindReply}
	surb, err := w.surb(reply, back, queueID(c.idx))
	if err != nil {
		w.acct.buildErrors++
		return
	}
	payload, err := mixnet.NewRequestPayload(w.geo, surb, []byte("fetch"))
	if err != nil {
		w.acct.buildErrors++
		return
	}
	tr := truth{id: w.newID(), sender: c.ep, kind: KindFetch}
	pkt, _, err := w.build(tr, w.forwardPath(c, svc), final{cmd: cmdDeliver, rcpt: recipientMailbox}, payload)
	if err != nil {
		w.acct.buildErrors++
		return
	}
	// The round trip is measured when the reply arrives: record it under
	// the reply's id, from the moment the fetch is queued.
	w.pending[reply.id] = pendingRec{kind: KindReply, from: c.ep, at: w.now()}
	w.queue(c, pkt, tr, pendingRec{kind: KindFetch, from: c.ep})
}

// clientSend puts a client's packet on the link to its gateway.
func (w *world) clientSend(c *client, pkt []byte) {
	w.transmit(c.ep, w.ep(c.gw), pkt, w.truthOfBuilt(pkt), onion.SURBID{}, false)
}

// clientReceive takes a reply from the client's gateway.
func (w *world) clientReceive(c *client, m linkMsg) {
	id, ok := w.idOfSURB(m.sid)
	if !ok {
		return
	}
	if w.real && m.pkt != nil {
		if keys := w.surbKeys[m.sid]; keys != nil {
			delete(w.surbKeys, m.sid)
			body, err := w.geo.OpenReply(keys, m.pkt)
			keys.Wipe()
			if err == nil && len(body) >= len(mailboxAnswer) && string(body[:len(mailboxAnswer)]) == string(mailboxAnswer) {
				w.acct.repliesOpened++
			} else {
				w.acct.repliesBad++
			}
		}
	}
	w.acct.arrivedID(id, m.due, c)
}

// clientMaker builds a client's cover packets with the scenario's PRNG.
type clientMaker struct {
	w *world
	c *client
}

// DropPacket is a forward packet to a random service's drop recipient.
func (m clientMaker) DropPacket() ([]byte, error) {
	w := m.w
	tr := truth{id: w.newID(), sender: m.c.ep, kind: KindDrop}
	pkt, _, err := w.build(tr, w.forwardPath(m.c, w.randomService()), final{cmd: cmdDeliver, rcpt: mixnet.RecipientDrop}, nil)
	if err == nil {
		w.acct.built(KindDrop)
	}
	return pkt, err
}

// LoopPacket is a reply block for gateway, one mix per layer, gateway,
// filled by the client itself (SPEC.md §6.4).
func (m clientMaker) LoopPacket() ([]byte, cover.LoopID, error) {
	w := m.w
	tr := truth{id: w.newID(), sender: m.c.ep, kind: KindLoop}
	pkt, sid, err := w.build(tr, w.forwardPath(m.c, m.c.gw), final{cmd: cmdSURBReply, rcpt: queueID(m.c.idx)}, nil)
	if err != nil {
		return nil, cover.LoopID{}, err
	}
	w.acct.built(KindLoop)
	w.pending[tr.id] = pendingRec{kind: KindLoop, from: m.c.ep, at: w.now()}
	return pkt, cover.LoopID(sid), nil
}

// friendGraph draws an undirected friendship graph of mean degree k.
func friendGraph(r interface {
	IntN(int) int
	Perm(int) []int
}, n, k int, model string) [][]int32 {
	adj := make([]map[int32]struct{}, n)
	for i := range adj {
		adj[i] = map[int32]struct{}{}
	}
	link := func(a, b int) {
		if a != b {
			adj[a][int32(b)] = struct{}{}
			adj[b][int32(a)] = struct{}{}
		}
	}
	switch model {
	case GraphRing:
		// Each user befriends its k/2 nearest neighbours on either side.
		for i := range n {
			for d := 1; d <= (k+1)/2; d++ {
				link(i, (i+d)%n)
			}
		}
	default:
		// n·k/2 friendships between uniformly random pairs.
		for e := 0; e < n*k/2; {
			a, b := r.IntN(n), r.IntN(n)
			if a == b {
				continue
			}
			if _, dup := adj[a][int32(b)]; dup {
				continue
			}
			link(a, b)
			e++
		}
	}
	out := make([][]int32, n)
	for i, m := range adj {
		for f := range m {
			out[i] = append(out[i], f)
		}
		sortInt32(out[i])
	}
	return out
}

func sortInt32(s []int32) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
