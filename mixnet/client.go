package mixnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"loam/cover"
	"loam/internal/clock"
	"loam/internal/xrand"
	"loam/mixnet/directory"
	"loam/mixnet/link"
	"loam/onion"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// Link is the client's link key; its queue at the gateway follows from
	// it, so keep it to receive replies held while offline.
	Link    link.KeyPair
	Network Network
	// Gateway names the gateway to use (its descriptor name); empty picks
	// one at random and keeps it.
	Gateway string
	// ViaOnion dials the gateway's Tor onion address instead of its TCP
	// address; Transport must then reach onion services (a Tor client).
	ViaOnion  bool
	Transport link.Transport
	Directory *directory.Fetcher
	Clock     clock.Clock
	Logger    *slog.Logger
	// SendQueue bounds packets waiting for the gateway link.
	SendQueue int
	// Cover turns on cover traffic at the directory's rates (SPEC.md §6):
	// real packets then leave only in real-or-drop slots, beside loops and
	// drops. Every real user runs with it on.
	Cover bool
	// Loops configures loop-loss accounting (zero: cover's defaults).
	Loops cover.LoopTrackerConfig
}

// Reply is a sealed SURB reply handed over by the gateway; the client opens
// it with the keys of the SURB its ID names.
type Reply struct {
	ID     onion.SURBID
	Sealed []byte
}

// Client is the client side of a gateway link: it keeps a verified
// directory, picks paths through the stratified topology, sends packets to
// its gateway and receives SURB replies, reconnecting when the link drops.
type Client struct {
	cfg     ClientConfig
	geo     onion.Geometry
	log     *slog.Logger
	linkCfg *link.Config
	send    chan []byte
	replies chan Reply

	mu        sync.Mutex
	pending   map[onion.SURBID]*pendingCall
	sendReal  func([]byte) error
	docs      map[uint64]*directory.Document
	gateway   *directory.Descriptor
	connected bool
	stale     error // why the directory is a cached one, if it is

	cover *cover.Client
	loops *cover.LoopTracker

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// ErrNoDirectory means the client holds no document for the current epoch.
var ErrNoDirectory = errors.New("mixnet: no directory document for the current epoch")

// NewClient returns a client; Start connects it.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Transport == nil {
		cfg.Transport = link.TCP{}
	}
	if cfg.Network.Geometry == (onion.Geometry{}) {
		cfg.Network = DefaultNetwork
	}
	if cfg.SendQueue <= 0 {
		cfg.SendQueue = 1024
	}
	if cfg.Directory == nil {
		return nil, errors.New("mixnet: client config: a directory fetcher is required")
	}
	if err := cfg.Network.Geometry.Validate(); err != nil {
		return nil, fmt.Errorf("mixnet: client config: %w", err)
	}
	c := &Client{
		cfg: cfg, geo: cfg.Network.Geometry, log: cfg.Logger.With("client", QueueID(cfg.Link.Public).String()[:8]),
		send: make(chan []byte, cfg.SendQueue), replies: make(chan Reply, 1024),
		docs: map[uint64]*directory.Document{}, pending: map[onion.SURBID]*pendingCall{},
	}
	c.sendReal = c.Send
	c.linkCfg = &link.Config{FrameLen: c.geo.PacketLen(), Static: cfg.Link, Prologue: cfg.Network.Prologue(),
		Clock: cfg.Clock, RekeyInterval: 2 * time.Minute, HandshakeTimeout: defaultHandshakeTimeout}
	return c, nil
}

// Queue is the client's queue id at its gateway: the recipient of its SURBs.
func (c *Client) Queue() onion.Recipient { return QueueID(c.cfg.Link.Public) }

// Geometry is the network's packet geometry.
func (c *Client) Geometry() onion.Geometry { return c.geo }

// Start fetches the directory (or loads the cached one when no authority
// answers) and keeps the gateway link up until ctx ends or Close.
func (c *Client) Start(ctx context.Context) error {
	c.ctx, c.cancel = context.WithCancel(ctx)
	if err := c.refresh(); err != nil {
		c.cancel()
		return err
	}
	if c.cfg.Cover {
		doc, err := c.Document()
		if err != nil {
			c.cancel()
			return err
		}
		c.startCover(doc)
	}
	c.wg.Add(2)
	go c.directoryLoop()
	go c.linkLoop()
	return nil
}

// Close disconnects and waits for the client's goroutines.
func (c *Client) Close() {
	if c.cancel != nil {
		c.cancel()
		if c.cover != nil {
			c.cover.Stop()
			c.loops.Stop()
		}
		c.wg.Wait()
	}
}

// Replies delivers the sealed replies the gateway hands over that answer no
// Call: the replies to raw packets built with NewRequest. Read it promptly;
// replies that find its buffer full are dropped.
func (c *Client) Replies() <-chan Reply { return c.replies }

// Send queues a packet for the gateway. It fails at once when the queue is
// full rather than block the caller's schedule.
func (c *Client) Send(pkt []byte) error {
	if len(pkt) != c.geo.PacketLen() {
		return fmt.Errorf("mixnet: packet of %d bytes, want %d", len(pkt), c.geo.PacketLen())
	}
	select {
	case c.send <- pkt:
		return nil
	default:
		return errors.New("mixnet: send queue full; the gateway link is down or too slow")
	}
}

// Status says whether the gateway link is up, which gateway it is, and why
// the directory is stale if it is.
func (c *Client) Status() (connected bool, gateway string, stale error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gateway != nil {
		gateway = c.gateway.Name
	}
	return c.connected, gateway, c.stale
}

// Document returns the directory document of the current epoch.
func (c *Client) Document() (*directory.Document, error) {
	e := directory.Schedule{Period: c.cfg.Network.EpochPeriod}.Epoch(c.cfg.Clock.Now())
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.docs[e]; d != nil {
		return d, nil
	}
	// Past the end of the newest document's epoch, keep using it (and say
	// so in Status): a mixnet that cannot reach its authorities still runs
	// on the last good topology until keys expire.
	var newest *directory.Document
	for _, d := range c.docs {
		if newest == nil || d.Epoch > newest.Epoch {
			newest = d
		}
	}
	if newest != nil && newest.Epoch < e {
		return newest, nil
	}
	return nil, ErrNoDirectory
}

// refresh fetches the documents of this epoch and the next; with no
// authority reachable it falls back to the cached document.
func (c *Client) refresh() error {
	e := directory.Schedule{Period: c.cfg.Network.EpochPeriod}.Epoch(c.cfg.Clock.Now())
	var firstErr error
	for _, want := range []uint64{e, e + 1} {
		c.mu.Lock()
		_, have := c.docs[want]
		c.mu.Unlock()
		if have {
			continue
		}
		doc, err := c.cfg.Directory.Fetch(c.ctx, want)
		if err != nil {
			if want == e {
				firstErr = err
			}
			continue
		}
		if err := c.addDocument(doc); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	newest := uint64(0)
	for ep := range c.docs {
		newest = max(newest, ep)
	}
	for ep := range c.docs {
		if ep+1 < e && ep != newest { // the newest stays: a stale directory beats none
			delete(c.docs, ep)
		}
	}
	if firstErr == nil || c.docs[e] != nil {
		c.stale = nil
		return nil
	}
	if len(c.docs) > 0 {
		c.stale = firstErr
		return nil
	}
	cached, err := c.cfg.Directory.LoadCached()
	if err != nil {
		return fmt.Errorf("mixnet: no directory: authorities: %v; cache: %w", firstErr, err)
	}
	c.docs[cached.Epoch] = cached
	c.stale = fmt.Errorf("running on the cached directory of epoch %d: %w", cached.Epoch, firstErr)
	c.log.Warn("authorities unreachable; using the cached directory", "epoch", cached.Epoch, "err", firstErr)
	return nil
}

// grace is the current document's grace window.
func (c *Client) grace() time.Duration {
	if doc, err := c.Document(); err == nil {
		return doc.Params.Grace
	}
	return c.cfg.Network.EpochPeriod
}

func (c *Client) addDocument(doc *directory.Document) error {
	p := doc.Params
	if p.Geometry() != c.geo || p.EpochPeriod != c.cfg.Network.EpochPeriod {
		return fmt.Errorf("mixnet: directory for epoch %d describes another network", doc.Epoch)
	}
	c.mu.Lock()
	c.docs[doc.Epoch] = doc
	c.mu.Unlock()
	return nil
}

func (c *Client) directoryLoop() {
	defer c.wg.Done()
	for c.wait(c.cfg.Network.EpochPeriod / 8) {
		if err := c.refresh(); err != nil {
			c.log.Warn("directory refresh", "err", err)
		}
		if doc, err := c.Document(); err == nil && c.cover != nil {
			c.cover.SetRates(ratesOf(doc.Params))
		}
		// A SURB lives as long as the onion keys it was made with: until
		// the grace window after the next epoch starts.
		c.expireCalls(2*c.cfg.Network.EpochPeriod + c.grace())
	}
}

func (c *Client) wait(d time.Duration) bool { return sleep(c.ctx, c.cfg.Clock, d) }

// pickGateway keeps the gateway chosen first while the directory lists it:
// the client's queue and its SURBs live there.
func (c *Client) pickGateway(doc *directory.Document) (*directory.Descriptor, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gateway != nil {
		if d := doc.Node(c.gateway.ID()); d != nil {
			c.gateway = d
			return d, nil
		}
	}
	var options []*directory.Descriptor
	for _, d := range doc.ByRole(directory.RoleGateway) {
		if c.cfg.ViaOnion && d.OnionAddress == "" {
			continue
		}
		if c.cfg.Gateway == "" || d.Name == c.cfg.Gateway {
			options = append(options, d)
		}
	}
	if len(options) == 0 {
		return nil, fmt.Errorf("mixnet: the directory of epoch %d lists no gateway %q", doc.Epoch, c.cfg.Gateway)
	}
	c.gateway = options[xrand.IntN(len(options))]
	return c.gateway, nil
}

func (c *Client) linkLoop() {
	defer c.wg.Done()
	backoff := defaultRedial
	for c.ctx.Err() == nil {
		conn, err := c.connect()
		if err != nil {
			c.log.Info("gateway link failed; retrying", "err", err, "in", backoff)
			if !c.wait(backoff) {
				return
			}
			backoff = min(2*backoff, defaultMaxRedial)
			continue
		}
		backoff = defaultRedial
		c.setConnected(true)
		err = c.serve(conn)
		c.setConnected(false)
		conn.Close()
		if c.ctx.Err() == nil {
			c.log.Info("gateway link lost; reconnecting", "err", err)
		}
	}
}

func (c *Client) setConnected(v bool) {
	c.mu.Lock()
	c.connected = v
	c.mu.Unlock()
}

func (c *Client) connect() (*link.Conn, error) {
	doc, err := c.Document()
	if err != nil {
		return nil, err
	}
	gw, err := c.pickGateway(doc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	addr := gw.Address
	if c.cfg.ViaOnion {
		if gw.OnionAddress == "" {
			return nil, fmt.Errorf("mixnet: gateway %s publishes no onion address; choose a gateway that does or connect without Tor", gw.Name)
		}
		addr = gw.OnionAddress
	}
	raw, err := c.cfg.Transport.Dial(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("mixnet: dialling gateway %s at %s: %w", gw.Name, addr, err)
	}
	conn, err := link.Client(ctx, raw, c.linkCfg, link.PublicKey(gw.LinkKey))
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("mixnet: handshake with gateway %s: %w", gw.Name, err)
	}
	if err := awaitReady(ctx, raw, conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("mixnet: gateway %s refused the link: %w", gw.Name, err)
	}
	return conn, nil
}

// serve writes queued packets and reads replies until the link fails.
func (c *Client) serve(conn *link.Conn) error {
	dead := make(chan error, 1)
	go func() { dead <- c.readReplies(conn) }()
	return pump(c.ctx, c.cfg.Clock, conn, c.send, dead, func(pkt []byte, err error) {
		if err != nil {
			c.requeue(pkt)
		}
	})
}

// requeue puts back a packet whose write failed, if there is room: it goes
// out on the next link.
func (c *Client) requeue(pkt []byte) {
	select {
	case c.send <- pkt:
	default:
	}
}

func (c *Client) readReplies(conn *link.Conn) error {
	for {
		typ, body, err := conn.ReadFrame()
		if err != nil {
			return err
		}
		if typ != frameReply {
			continue
		}
		var r Reply
		copy(r.ID[:], body)
		r.Sealed = append([]byte(nil), body[onion.NodeIDLen:onion.NodeIDLen+c.geo.PayloadLen()]...)
		if c.dispatch(r) {
			continue
		}
		// A reply to no call: a raw request's (Replies), or a late answer to
		// a call already forgotten. Never block on it: a reader that stops
		// here stalls the gateway's writer and every later reply with it.
		select {
		case c.replies <- r:
		default:
			c.log.Debug("reply to no pending call dropped", "surb", r.ID.String())
		}
	}
}

// Paths.

// Hop returns d as a hop of a path built in the current epoch.
func (c *Client) hop(doc *directory.Document, d *directory.Descriptor, delay time.Duration) (onion.Hop, error) {
	k, ok := d.OnionKey(doc.Epoch)
	if !ok {
		return onion.Hop{}, fmt.Errorf("mixnet: node %s has no onion key for epoch %d", d.Name, doc.Epoch)
	}
	return onion.Hop{Node: d.ID(), Key: k, Phase: uint8(doc.Epoch & 1), Delay: delay}, nil
}

// mixPath picks one mix in each layer at random, each holding the packet
// for an exponential delay of mean 1/μ.
func (c *Client) mixPath(doc *directory.Document) ([]onion.Hop, error) {
	var hops []onion.Hop
	for layer := 1; layer <= 3; layer++ {
		mixes := doc.Layer(layer)
		if len(mixes) == 0 {
			return nil, fmt.Errorf("mixnet: the directory of epoch %d has no mix in layer %d", doc.Epoch, layer)
		}
		h, err := c.hop(doc, mixes[xrand.IntN(len(mixes))], xrand.Exp(doc.Params.Mu))
		if err != nil {
			return nil, err
		}
		hops = append(hops, h)
	}
	return hops, nil
}

// pathParts returns the current document, the client's gateway as a hop
// that holds nothing, and a random mix of each layer.
func (c *Client) pathParts() (*directory.Document, onion.Hop, []onion.Hop, error) {
	doc, err := c.Document()
	if err != nil {
		return nil, onion.Hop{}, nil, err
	}
	gw, err := c.pickGateway(doc)
	if err != nil {
		return nil, onion.Hop{}, nil, err
	}
	gwHop, err := c.hop(doc, gw, 0)
	if err != nil {
		return nil, onion.Hop{}, nil, err
	}
	mixes, err := c.mixPath(doc)
	if err != nil {
		return nil, onion.Hop{}, nil, err
	}
	return doc, gwHop, mixes, nil
}

// ForwardPath returns a path from the client's gateway through one mix per
// layer to the service node dest.
func (c *Client) ForwardPath(dest *directory.Descriptor) ([]onion.Hop, error) {
	doc, gw, mixes, err := c.pathParts()
	if err != nil {
		return nil, err
	}
	// dest may come from another epoch's document: take this epoch's
	// descriptor of the same node, with this epoch's key.
	here := doc.Node(dest.ID())
	if here == nil {
		return nil, fmt.Errorf("mixnet: service node %s is not in the directory of epoch %d", dest.Name, doc.Epoch)
	}
	last, err := c.hop(doc, here, 0)
	if err != nil {
		return nil, err
	}
	return append(append([]onion.Hop{gw}, mixes...), last), nil
}

// ReplyPath returns a SURB path: one mix per layer, then the client's
// gateway.
func (c *Client) ReplyPath() ([]onion.Hop, error) {
	_, gw, mixes, err := c.pathParts()
	if err != nil {
		return nil, err
	}
	return append(mixes, gw), nil
}

// Services lists the service nodes of the current directory that offer the
// named service.
func (c *Client) Services(name string) ([]*directory.Descriptor, error) {
	doc, err := c.Document()
	if err != nil {
		return nil, err
	}
	var out []*directory.Descriptor
	for _, d := range doc.ByRole(directory.RoleService) {
		for _, s := range d.Services {
			if s == name {
				out = append(out, d)
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("mixnet: no service node offers %q in epoch %d", name, doc.Epoch)
	}
	return out, nil
}

// NewRequest builds a packet asking service `name` at dest for an answer:
// it carries a fresh SURB back to this client. Keep the returned keys to
// open the reply, whose ID is keys.ID.
func (c *Client) NewRequest(dest *directory.Descriptor, name string, body []byte) (pkt []byte, keys *onion.SURBKeys, err error) {
	rcpt, err := RecipientName(name)
	if err != nil {
		return nil, nil, err
	}
	back, err := c.ReplyPath()
	if err != nil {
		return nil, nil, err
	}
	surb, keys, err := c.geo.NewSURB(back, c.Queue())
	if err != nil {
		return nil, nil, err
	}
	payload, err := NewRequestPayload(c.geo, surb, body)
	if err != nil {
		return nil, nil, err
	}
	path, err := c.ForwardPath(dest)
	if err != nil {
		return nil, nil, err
	}
	pkt, err = c.geo.NewPacket(path, rcpt, payload)
	if err != nil {
		return nil, nil, err
	}
	return pkt, keys, nil
}

// Calls: requests whose answers the client opens and dispatches itself.

type pendingCall struct {
	keys    *onion.SURBKeys
	onReply func(body []byte)
	made    time.Time
}

// SetSender routes the real packets Call sends through f instead of
// straight to the gateway link: the cover layer's real-or-drop queue, so
// that they leave only in scheduled slots.
func (c *Client) SetSender(f func(pkt []byte) error) {
	c.mu.Lock()
	c.sendReal = f
	c.mu.Unlock()
}

// Call sends body to the service name at dest with a fresh single-use reply
// block and, when the answer comes back, opens it and calls onReply with it
// (at most once, from the client's reading goroutine: onReply must not
// block). It returns the SURB's id, which Forget abandons.
func (c *Client) Call(dest *directory.Descriptor, name string, body []byte, onReply func(body []byte)) (onion.SURBID, error) {
	pkt, keys, err := c.NewRequest(dest, name, body)
	if err != nil {
		return onion.SURBID{}, err
	}
	if err := c.expect(keys, onReply); err != nil {
		return onion.SURBID{}, err
	}
	c.mu.Lock()
	send := c.sendReal
	c.mu.Unlock()
	if err := send(pkt); err != nil {
		c.Forget(keys.ID)
		return onion.SURBID{}, err
	}
	return keys.ID, nil
}

// expect registers the keys of a SURB whose reply the client will dispatch.
func (c *Client) expect(keys *onion.SURBKeys, onReply func([]byte)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) >= maxPendingCalls {
		keys.Wipe()
		return errors.New("mixnet: too many calls awaiting replies")
	}
	c.pending[keys.ID] = &pendingCall{keys: keys, onReply: onReply, made: c.cfg.Clock.Now()}
	return nil
}

// maxPendingCalls bounds the SURB keys a client keeps.
const maxPendingCalls = 1 << 16

// Forget abandons a call: its reply, if one still comes, is dropped.
func (c *Client) Forget(id onion.SURBID) {
	c.mu.Lock()
	p := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if p != nil {
		p.keys.Wipe()
	}
}

// dispatch opens a reply to a call and hands it over; it reports false for
// replies to SURBs the client did not make through Call.
func (c *Client) dispatch(r Reply) bool {
	c.mu.Lock()
	p := c.pending[r.ID]
	delete(c.pending, r.ID)
	c.mu.Unlock()
	if p == nil {
		return false
	}
	body, err := c.geo.OpenReply(p.keys, r.Sealed)
	p.keys.Wipe()
	if err != nil {
		c.log.Warn("a reply failed authentication; dropped", "surb", r.ID.String())
		return true
	}
	if p.onReply != nil {
		p.onReply(body)
	}
	return true
}

// expireCalls forgets calls older than age: their SURBs' keys have left
// the grace window, so no reply can come.
func (c *Client) expireCalls(age time.Duration) {
	cut := c.cfg.Clock.Now().Add(-age)
	c.mu.Lock()
	var old []*pendingCall
	for id, p := range c.pending {
		if p.made.Before(cut) {
			old = append(old, p)
			delete(c.pending, id)
		}
	}
	c.mu.Unlock()
	for _, p := range old {
		p.keys.Wipe()
	}
}

// Cover packets.

// DropPacket builds a packet for the drop recipient of a random service
// node: cover traffic that looks like any other packet until its last hop.
func (c *Client) DropPacket() ([]byte, error) {
	doc, err := c.Document()
	if err != nil {
		return nil, err
	}
	services := doc.ByRole(directory.RoleService)
	if len(services) == 0 {
		return nil, fmt.Errorf("mixnet: the directory of epoch %d has no service node", doc.Epoch)
	}
	path, err := c.ForwardPath(services[xrand.IntN(len(services))])
	if err != nil {
		return nil, err
	}
	return c.geo.NewPacket(path, RecipientDrop, nil)
}

// LoopPacket builds a loop: a reply block for the path gateway, one mix per
// layer, gateway, which the client fills itself, so the packet goes out
// through every layer and comes back to it as a SURB reply. The id tells the
// loop's return; the reply is dispatched to onReturn.
func (c *Client) LoopPacket(onReturn func()) ([]byte, onion.SURBID, error) {
	_, gw, mixes, err := c.pathParts()
	if err != nil {
		return nil, onion.SURBID{}, err
	}
	path := append(append([]onion.Hop{gw}, mixes...), gw)
	surb, keys, err := c.geo.NewSURB(path, c.Queue())
	if err != nil {
		return nil, onion.SURBID{}, err
	}
	_, pkt, err := c.geo.NewReply(surb, nil)
	if err != nil {
		return nil, onion.SURBID{}, err
	}
	if err := c.expect(keys, func([]byte) {
		if onReturn != nil {
			onReturn()
		}
	}); err != nil {
		return nil, onion.SURBID{}, err
	}
	return pkt, keys.ID, nil
}
