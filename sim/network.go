package sim

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"time"
	"unsafe"

	"loam/cover"
	"loam/mixnet"
	"loam/onion"
)

// world is one simulation: the nodes, the clients, the links between them
// and the one virtual clock that drives them all.
type world struct {
	sc    Scenario
	geo   onion.Geometry
	clk   *vclock
	start time.Time
	end   int64 // ns since start
	lat   int64 // link latency, ns
	real  bool
	model modelFormat
	log   *slog.Logger

	rng  *rand.Rand // paths and delays
	urng *rand.Rand // users' behaviour

	nodes    []*node
	layers   [][]int // node indices by layer; layers[0] unused
	gateways []int
	services []int
	clients  []*client
	nc       int // clients; node i is endpoint nc+i

	epoch0 uint64 // epoch at the start

	links  linkQueue
	bufs   *buffers // the model's packet buffers and their records
	nextID uint64
	seq    uint64

	// Real crypto: what the packet bytes cannot tell.
	realTruth map[*byte]truth
	surbPkt   map[onion.SURBID]uint64 // SURB id → packet id of the pending record
	surbKeys  map[onion.SURBID]*onion.SURBKeys

	// cur is the packet being handled by a Router: a synchronous Send or
	// DeliverReply belongs to it.
	cur     truth
	curNode *node
	handled bool // the packet was delivered to a service or client queue

	pending map[uint64]pendingRec // packet id → what to measure on arrival

	adv   *adversary
	acct  *accounting
	batch []obs // observations not yet handed to the adversary
}

// node is a gateway, mix or service node: a real mixnet.Router with real
// epoch keys.
type node struct {
	idx   int
	ep    endpoint
	role  Role
	layer int
	id    onion.NodeID
	keys  *mixnet.EpochKeys
	pubs  []onion.PublicKey // by epoch − epoch0
	fps   [][mFPLen]byte
	r     *mixnet.Router

	loops    *cover.NodeLoops
	tracker  *cover.LoopTracker
	loopNext int // first hop of the loop packet just made
	alarms   int
}

// pendingRec is a packet whose arrival the simulator measures.
type pendingRec struct {
	kind Kind
	from endpoint
	at   int64 // when the user queued it (or the loop was sent), ns
	post int32 // KindPost: the post's number
}

func (w *world) now() int64 { return w.clk.now }

func (w *world) ep(nodeIdx int) endpoint { return endpoint(w.nc + nodeIdx) }

func (w *world) epochAt(t int64) uint64 {
	return uint64(w.start.Add(time.Duration(t)).Sub(time.Unix(0, 0)) / w.sc.Topology.Epoch.Duration)
}

func (w *world) newID() uint64 {
	w.nextID++
	return w.nextID
}

// newWorld builds the network of a scenario; nothing runs until run.
func newWorld(sc Scenario, log *slog.Logger) (*world, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	t := sc.Topology
	geo := onion.Geometry{Hops: t.Layers + 2, UserPayload: onion.DefaultGeometry.UserPayload}
	if err := geo.Validate(); err != nil {
		return nil, fmt.Errorf("%w: topology.layers: %w", ErrScenario, err)
	}
	// Start on an epoch boundary, at a fixed date, so runs repeat.
	period := t.Epoch.Duration
	start := time.Unix(0, 0).Add(time.Duration(int64(1_750_000_000*time.Second) / int64(period) * int64(period)))
	w := &world{
		sc: sc, geo: geo, start: start, clk: newVClock(start),
		end: int64(sc.Duration.Duration), lat: int64(t.LinkLatency.Duration),
		real: sc.Crypto == CryptoReal, model: modelFormat{geo}, log: log,
		rng:     rand.New(rand.NewPCG(sc.Seed, 0x9a7b5)),
		urng:    rand.New(rand.NewPCG(sc.Seed, 0x75e45)),
		nc:      sc.Users.Count,
		pending: map[uint64]pendingRec{},
	}
	w.epoch0 = w.epochAt(0)
	w.bufs = newBuffers(geo.PacketLen())
	if w.real {
		w.realTruth = map[*byte]truth{}
		w.surbPkt = map[onion.SURBID]uint64{}
		w.surbKeys = map[onion.SURBID]*onion.SURBKeys{}
	}
	if err := w.buildNodes(); err != nil {
		return nil, err
	}
	w.acct = newAccounting(w)
	w.buildClients()
	w.adv = newAdversary(w)
	return w, nil
}

func (w *world) buildNodes() error {
	t := w.sc.Topology
	add := func(role Role, layer int) {
		i := len(w.nodes)
		w.nodes = append(w.nodes, &node{idx: i, ep: w.ep(i), role: role, layer: layer, id: nodeID(i)})
	}
	for range t.Gateways {
		w.gateways = append(w.gateways, len(w.nodes))
		add(RoleGateway, 0)
	}
	w.layers = make([][]int, t.Layers+1)
	for l := 1; l <= t.Layers; l++ {
		for range t.MixesPerLayer {
			w.layers[l] = append(w.layers[l], len(w.nodes))
			add(RoleMix, l)
		}
	}
	for range t.Services {
		w.services = append(w.services, len(w.nodes))
		add(RoleService, t.Layers+1)
	}

	// Keys for every epoch the run touches, and the next.
	last := w.epochAt(w.end) + 1
	var epochs []uint64
	for e := w.epoch0; e <= last; e++ {
		epochs = append(epochs, e)
	}
	ptype := w.sc.Topology.Epoch.Duration
	for _, n := range w.nodes {
		ks, err := mixnet.OpenEpochKeys("", w.replayCapacity(n.role, ptype), 1e-6)
		if err != nil {
			return fmt.Errorf("sim: %w", err)
		}
		if err := ks.Ensure(epochs...); err != nil {
			return fmt.Errorf("sim: %w", err)
		}
		pub := ks.Public(epochs...)
		n.keys = ks
		for _, e := range epochs {
			p := pub[e]
			n.pubs = append(n.pubs, p)
			n.fps = append(n.fps, [mFPLen]byte(p[:]))
		}
		cfg := mixnet.RouterConfig{
			Geometry: w.geo, Keys: ks, Clock: w.clk, Outbox: outbox{w, n},
			Services: w.servicesOf(n), MaxScheduled: w.maxScheduled(n.role),
			EpochPeriod: ptype, Grace: w.sc.Topology.Grace.Duration,
		}
		if n.role == RoleGateway {
			cfg.Clients = gatewaySink{w, n}
		}
		if !w.real {
			cfg.Unwrap = w.model.unwrap
		}
		n.r = mixnet.NewRouter(cfg)
		from := n
		n.r.SetRoutes(func(id onion.NodeID) bool {
			j, ok := nodeIndex(id, len(w.nodes))
			return ok && mayLink(from, w.nodes[j], w.sc.Topology.Layers)
		})
	}
	// Old keys go with their replay filters once their grace is over, as
	// a node's directory loop does (SPEC.md §5.3).
	for e := w.epoch0 + 1; e <= last; e++ {
		at := w.start.Add(time.Duration(e-w.epoch0)*ptype + w.sc.Topology.Grace.Duration)
		if at.Sub(w.start) > time.Duration(w.end) {
			break
		}
		w.clk.AfterFunc(at.Sub(w.start), func() {
			for _, n := range w.nodes {
				_ = n.keys.Drop(e) // in memory: cannot fail
			}
		})
	}
	return nil
}

// mayLink is SPEC.md §5.1's rule, for any number of layers.
func mayLink(from, to *node, layers int) bool {
	switch from.role {
	case RoleGateway, RoleService:
		return to.role == RoleMix && to.layer == 1
	case RoleMix:
		if from.layer < layers {
			return to.role == RoleMix && to.layer == from.layer+1
		}
		return to.role == RoleService || to.role == RoleGateway
	}
	return false
}

// expectedRate is the packets per second a node of the role handles, from
// the scenario's rates: used to size replay filters and queues.
func (w *world) expectedRate(role Role) float64 {
	sc := w.sc
	c := float64(sc.Users.Count)
	real := c*sc.Users.FetchesPerHour/3600*2 +
		c*sc.Users.Posters*sc.Users.PostsPerHour/3600*float64(sc.Users.Friends+sc.Users.PostPackets)
	client := real
	if sc.CoverOn() {
		client = c*(sc.Rates.LambdaP+sc.Rates.LambdaL+sc.Rates.LambdaD) + c*sc.Users.FetchesPerHour/3600
	}
	nodes := float64(sc.Topology.Gateways + sc.Topology.Layers*sc.Topology.MixesPerLayer)
	total := client + nodes*sc.Rates.LambdaM
	switch role {
	case RoleGateway:
		return 2 * total / float64(sc.Topology.Gateways)
	case RoleMix:
		return total / float64(sc.Topology.MixesPerLayer)
	default:
		return total / float64(sc.Topology.Services)
	}
}

// replayCapacity sizes a key's replay filter: a key sees at most its
// epoch and grace of traffic, and no more than the run's. A quarter to
// spare; past its capacity a filter's false positives rise slowly.
func (w *world) replayCapacity(role Role, epoch time.Duration) uint64 {
	span := min(epoch+w.sc.Topology.Grace.Duration, w.sc.Duration.Duration)
	return uint64(1.25*w.expectedRate(role)*span.Seconds()) + 10000
}

func (w *world) maxScheduled(role Role) int {
	held := w.expectedRate(role) / w.sc.Rates.Mu
	return int(min(20*held+32768, 1<<26))
}

// servicesOf lists the recipients a node serves (SPEC.md §5.7, §6.4).
func (w *world) servicesOf(n *node) map[onion.Recipient]mixnet.Service {
	s := map[onion.Recipient]mixnet.Service{
		mixnet.RecipientDrop: mixnet.ServiceFunc(func(*mixnet.Request) { w.delivered(n) }),
	}
	switch n.role {
	case RoleGateway, RoleMix:
		s[mixnet.RecipientLoop] = mixnet.ServiceFunc(func(req *mixnet.Request) {
			w.delivered(n)
			if n.tracker != nil && len(req.Body) >= 16 {
				n.tracker.Returned(cover.LoopID(req.Body[:16]))
			}
		})
	case RoleService:
		s[recipientMailbox] = mixnet.ServiceFunc(func(req *mixnet.Request) { w.mailbox(n, req) })
	}
	return s
}

// recipientMailbox is the simulator's stand-in for the mailbox service: it
// stores nothing, and answers fetches with a short body.
var recipientMailbox, _ = mixnet.RecipientName("mailbox")

var mailboxAnswer = []byte("loam-sim mailbox answer")

func (w *world) mailbox(n *node, req *mixnet.Request) {
	w.delivered(n)
	if req.CanReply() {
		if req.Reply(mailboxAnswer) == nil { // a reply that cannot be sent is lost, as any packet may be
			w.acct.built(KindReply)
		}
	}
}

// delivered records a packet that reached its service.
func (w *world) delivered(n *node) {
	w.handled = true
	w.acct.arrived(w.cur, w.now())
}

// outbox is a node's side of its links.
type outbox struct {
	w *world
	n *node
}

// Send puts a packet a Router releases on the link to its next hop.
func (o outbox) Send(next onion.NodeID, pkt []byte) {
	w := o.w
	j, ok := nodeIndex(next, len(w.nodes))
	if !ok {
		w.free(pkt)
		return
	}
	var tr truth
	switch {
	case !w.real:
		if i := w.bufs.number(pkt); i >= 0 {
			tr = w.bufs.truths[i]
		} else {
			tr = w.model.truthOf(pkt) // a service's answer, sealed into a fresh packet
		}
	default:
		var known bool
		if tr, known = w.realTruth[unsafe.SliceData(pkt)]; !known {
			// A service's answer, sealed into a fresh packet by NewReply.
			tr = truth{id: w.newID(), sender: o.n.ep, kind: KindReply}
			w.realTruth[unsafe.SliceData(pkt)] = tr
		}
	}
	w.transmit(o.n.ep, w.nodes[j].ep, pkt, tr, onion.SURBID{}, false)
}

// gatewaySink hands SURB replies at a gateway to its client at once (a
// client in the simulator is always connected).
type gatewaySink struct {
	w *world
	n *node
}

func (g gatewaySink) DeliverReply(queue onion.Recipient, id onion.SURBID, sealed []byte) {
	w := g.w
	c, ok := queueIndex(queue, w.nc)
	if !ok {
		return
	}
	w.handled = true
	var keep []byte
	if w.real && w.surbKeys[id] != nil {
		keep = append([]byte(nil), sealed...) // opened by the client to check the real path
	}
	w.transmit(g.n.ep, endpoint(c), keep, w.cur, id, true)
}

// transmit starts a transmission: the adversary sees it now, the receiver
// gets it one link latency later.
func (w *world) transmit(from, to endpoint, pkt []byte, tr truth, sid onion.SURBID, reply bool) {
	w.seq++
	now := w.now()
	m := linkMsg{due: now + w.lat, from: from, to: to, pkt: pkt, tr: tr, seq: w.seq, sid: sid, reply: reply}
	w.acct.sent(from, to, tr, now)
	w.emit(obs{what: obsSend, t: now, seq: m.seq, tr: tr, from: from, to: to})
	w.links.push(m)
}

// receive completes a transmission at its receiver.
func (w *world) receive(m linkMsg) {
	if int(m.to) < w.nc {
		w.clientReceive(w.clients[m.to], m)
		return
	}
	n := w.nodes[int(m.to)-w.nc]
	w.emit(obs{what: obsArrive, t: m.due, seq: m.seq, tr: m.tr, from: m.from, to: m.to})
	w.cur, w.curNode, w.handled = m.tr, n, false
	kept := n.r.Handle(m.pkt, w.clk.Now())
	if !kept {
		if !w.handled {
			w.acct.dropped(n, m.tr)
		}
		w.free(m.pkt)
	}
	w.curNode = nil
}

// free takes back a packet's buffer when the packet ends.
func (w *world) free(pkt []byte) {
	if pkt == nil {
		return
	}
	if w.real {
		delete(w.realTruth, unsafe.SliceData(pkt))
		return
	}
	w.bufs.put(pkt)
}

// run drives the clock to the end of the scenario. Link arrivals come from
// the FIFO; everything else (cover streams, mixes' release timers, users,
// loop trackers) from the clock. progress is called now and then with the
// virtual time done.
func (w *world) run(progress func(done time.Duration)) {
	step := 0
	for {
		if step++; step&0xffff == 0 && progress != nil {
			progress(time.Duration(w.clk.now))
		}
		if m := w.links.peek(); m != nil && m.due <= w.end {
			// Timers due first run first. What they send arrives one
			// latency after them, so no earlier than m: the FIFO stays in
			// order.
			w.clk.runUntil(m.due)
			w.receive(w.links.pop())
			continue
		}
		next, ok := w.clk.next()
		if !ok || next > w.end {
			w.clk.runUntil(w.end)
			break
		}
		w.clk.step()
	}
	if progress != nil {
		progress(time.Duration(w.end))
	}
}

// pathDelay draws a mix's delay: exponential of mean 1/μ (SPEC.md §5.8).
func (w *world) pathDelay() time.Duration {
	return time.Duration(w.rng.ExpFloat64() / w.sc.Rates.Mu * float64(time.Second))
}

func (w *world) randomMix(layer int) int {
	l := w.layers[layer]
	return l[w.rng.IntN(len(l))]
}

func (w *world) randomService() int { return w.services[w.rng.IntN(len(w.services))] }

// build makes one packet along path (node indices): the first hop is
// where it is sent; mixes hold it for delays drawn here, other nodes for
// none. fin is its last command.
func (w *world) build(tr truth, path []int, fin final, payload []byte) ([]byte, onion.SURBID, error) {
	e := w.epochAt(w.now())
	ei := int(e - w.epoch0)
	phase := uint8(e & 1)
	if w.real {
		return w.buildReal(tr, path, fin, payload, ei, phase)
	}
	var hops [onion.MaxHops + 2]mhop
	for i, ni := range path {
		n := w.nodes[ni]
		hops[i] = mhop{node: n.id, fp: n.fps[ei]}
		if n.role == RoleMix {
			hops[i].delay = w.pathDelay()
		}
	}
	if fin.cmd == cmdSURBReply && fin.surb == (onion.SURBID{}) {
		fin.surb = surbID(tr.id)
	}
	pkt, i := w.bufs.get()
	w.bufs.truths[i] = tr
	w.model.packet(pkt, tr, phase, hops[:len(path)], fin, payload)
	return pkt, fin.surb, nil
}

func (w *world) realHops(path []int, ei int, phase uint8) []onion.Hop {
	hops := make([]onion.Hop, len(path))
	for i, ni := range path {
		n := w.nodes[ni]
		hops[i] = onion.Hop{Node: n.id, Key: n.pubs[ei], Phase: phase}
		if n.role == RoleMix {
			hops[i].Delay = w.pathDelay()
		}
	}
	return hops
}

func (w *world) buildReal(tr truth, path []int, fin final, payload []byte, ei int, phase uint8) ([]byte, onion.SURBID, error) {
	hops := w.realHops(path, ei, phase)
	var (
		pkt []byte
		sid onion.SURBID
		err error
	)
	switch fin.cmd {
	case cmdDeliver:
		pkt, err = w.geo.NewPacket(hops, fin.rcpt, payload)
	case cmdSURBReply:
		// A reply block the sender fills itself (SPEC.md §6.4): how loops
		// and a post's header packets reach a client's queue.
		var surb []byte
		var keys *onion.SURBKeys
		surb, keys, err = w.geo.NewSURB(hops, fin.rcpt)
		if err == nil {
			keys.Wipe()
			sid = keys.ID
			w.surbPkt[sid] = tr.id
			_, pkt, err = w.geo.NewReply(surb, payload)
		}
	}
	if err != nil {
		return nil, sid, fmt.Errorf("sim: building a packet: %w", err)
	}
	w.realTruth[unsafe.SliceData(pkt)] = tr
	return pkt, sid, nil
}

// surb makes a reply block for path ending at a client's queue; the reply
// will carry truth tr.
func (w *world) surb(tr truth, path []int, queue onion.Recipient) ([]byte, error) {
	e := w.epochAt(w.now())
	ei := int(e - w.epoch0)
	phase := uint8(e & 1)
	if w.real {
		surb, keys, err := w.geo.NewSURB(w.realHops(path, ei, phase), queue)
		if err != nil {
			return nil, fmt.Errorf("sim: building a reply block: %w", err)
		}
		w.surbPkt[keys.ID] = tr.id
		w.surbKeys[keys.ID] = keys
		return surb, nil
	}
	var hops [onion.MaxHops + 2]mhop
	for i, ni := range path {
		n := w.nodes[ni]
		hops[i] = mhop{node: n.id, fp: n.fps[ei]}
		if n.role == RoleMix {
			hops[i].delay = w.pathDelay()
		}
	}
	return w.model.surb(tr, phase, hops[:len(path)], final{cmd: cmdSURBReply, rcpt: queue, surb: surbID(tr.id)}), nil
}

// idOfSURB finds the packet id a SURB id stands for.
func (w *world) idOfSURB(sid onion.SURBID) (uint64, bool) {
	if w.real {
		id, ok := w.surbPkt[sid]
		delete(w.surbPkt, sid)
		return id, ok
	}
	var zero [8]byte
	if [8]byte(sid[:8]) != zero {
		return 0, false
	}
	return uint64(sid[8])<<56 | uint64(sid[9])<<48 | uint64(sid[10])<<40 | uint64(sid[11])<<32 |
		uint64(sid[12])<<24 | uint64(sid[13])<<16 | uint64(sid[14])<<8 | uint64(sid[15]), true
}

// nodeMaker builds a gateway's or mix's loops (SPEC.md §6.4).
type nodeMaker struct {
	w *world
	n *node
}

func (m nodeMaker) DropPacket() ([]byte, error) {
	return nil, fmt.Errorf("sim: nodes send no drops")
}

func (m nodeMaker) LoopPacket() ([]byte, cover.LoopID, error) {
	w, n := m.w, m.n
	L := w.sc.Topology.Layers
	var path []int
	switch n.role {
	case RoleGateway:
		for l := 1; l <= L; l++ {
			path = append(path, w.randomMix(l))
		}
	case RoleMix:
		for l := n.layer + 1; l <= L; l++ {
			path = append(path, w.randomMix(l))
		}
		path = append(path, w.randomService())
		for l := 1; l < n.layer; l++ {
			path = append(path, w.randomMix(l))
		}
	}
	path = append(path, n.idx)
	tr := truth{id: w.newID(), sender: n.ep, kind: KindNodeLoop}
	var id cover.LoopID
	id[0] = 'L'
	for i := range 8 {
		id[8+i] = byte(tr.id >> (56 - 8*i))
	}
	payload, err := mixnet.NewRequestPayload(w.geo, nil, id[:])
	if err != nil {
		return nil, id, err
	}
	pkt, _, err := w.build(tr, path, final{cmd: cmdDeliver, rcpt: mixnet.RecipientLoop}, payload)
	if err != nil {
		return nil, id, err
	}
	n.loopNext = path[0]
	w.acct.built(KindNodeLoop)
	w.pending[tr.id] = pendingRec{kind: KindNodeLoop, from: n.ep, at: w.now()}
	return pkt, id, nil
}

func (w *world) startNodeLoops() {
	if w.sc.Rates.LambdaM <= 0 {
		return
	}
	for _, n := range w.nodes {
		if n.role == RoleService {
			continue
		}
		n := n
		n.tracker = cover.NewLoopTracker(cover.LoopTrackerConfig{
			Clock: w.clk, Logger: w.log,
			OnAlarm: func(r cover.Report) {
				if r.Alarm {
					n.alarms++
				}
			},
		})
		send := func(pkt []byte) error {
			w.transmit(n.ep, w.ep(n.loopNext), pkt, w.truthOfBuilt(pkt), onion.SURBID{}, false)
			return nil
		}
		n.loops = cover.NewNodeLoops(w.clk, w.sc.Rates.LambdaM, nodeMaker{w, n}, send, n.tracker)
		n.tracker.Start()
		n.loops.Start()
	}
}

// truthOfBuilt finds the record of a packet this simulator built.
func (w *world) truthOfBuilt(pkt []byte) truth {
	if w.real {
		return w.realTruth[unsafe.SliceData(pkt)]
	}
	if i := w.bufs.number(pkt); i >= 0 {
		return w.bufs.truths[i]
	}
	return w.model.truthOf(pkt)
}

// expRand draws an exponential gap of the given rate (per second) in ns.
func expRand(r *rand.Rand, rate float64) time.Duration {
	if !(rate > 0) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(r.ExpFloat64() / rate * float64(time.Second))
}
