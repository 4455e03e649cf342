package mixnet

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"loam/cover"
	"loam/internal/clock"
	"loam/mixnet/directory"
	"loam/mixnet/link"
	"loam/onion"
)

const roleGateway = directory.RoleGateway

// Network is what every node and client of one network must agree on before
// they can read its directory: the packet geometry (it fixes the link frame)
// and the epoch length (it names the epochs descriptors publish keys for).
type Network struct {
	Geometry    onion.Geometry
	EpochPeriod time.Duration
}

// DefaultNetwork is the production network: default geometry, 20-minute
// epochs.
var DefaultNetwork = Network{Geometry: onion.DefaultGeometry, EpochPeriod: 20 * time.Minute}

// Prologue binds a link handshake to the network's geometry, so a node or
// client of another geometry fails the handshake instead of exchanging
// frames it cannot read (SPEC.md §5.2).
func (nw Network) Prologue() []byte {
	b := []byte("loam network v1")
	b = binary.BigEndian.AppendUint16(b, uint16(nw.Geometry.Hops))
	return binary.BigEndian.AppendUint32(b, uint32(nw.Geometry.UserPayload))
}

// Config configures a Node. Zero tunables take their defaults.
type Config struct {
	Name         string
	Role         directory.Role
	Layer        int // mixes: 1 to 3
	Identity     ed25519.PrivateKey
	Link         link.KeyPair
	Listen       string // address to listen on for links; "127.0.0.1:0" picks a port
	Advertise    string // address published in the descriptor; default: the listener's
	OnionAddress string // Tor onion address published beside it (gateways)
	Network      Network
	Transport    link.Transport
	Clock        clock.Clock
	Logger       *slog.Logger
	Registry     prometheus.Registerer // nil: metrics are kept but not exported
	DataDir      string                // onion keys live in DataDir/onion
	// Directory publishes this node's descriptors and fetches documents;
	// nil means documents arrive only through AddDocument.
	Directory *directory.Fetcher
	// Services are served at a service node, by recipient name.
	Services map[string]Service

	// Loops configures the accounting of the node's own loops (zero:
	// cover's defaults); gateways and mixes send them at the directory's λM.
	Loops cover.LoopTrackerConfig

	// DropOutgoing, if set, is asked about every packet this node sends and
	// drops it when it says so: fault injection for tests and the test bed.
	DropOutgoing func(next onion.NodeID) bool
	// HoldOutgoing, if set, is asked about every packet this node relays
	// and holds it that much longer than its mixing delay, so that later
	// packets overtake it: reordering, injected for the test bed.
	HoldOutgoing func(next onion.NodeID) time.Duration

	Workers        int           // unwrap workers; default GOMAXPROCS
	QueueLen       int           // packets waiting for a worker
	LinkQueue      int           // packets waiting for one outgoing link
	MaxScheduled   int           // packets held for their delay
	ReplayCapacity uint64        // tags per onion key's replay filter
	ReplayFP       float64       // the filter's false-positive rate at capacity
	ClientHold     int           // replies a gateway holds per offline client
	ClientHoldFor  time.Duration // and for how long
}

func (c *Config) defaults() {
	if c.Clock == nil {
		c.Clock = clock.Real()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Transport == nil {
		c.Transport = link.TCP{}
	}
	if c.Network.Geometry == (onion.Geometry{}) {
		c.Network = DefaultNetwork
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.QueueLen <= 0 {
		c.QueueLen = defaultQueueLen
	}
	if c.LinkQueue <= 0 {
		c.LinkQueue = defaultLinkQueue
	}
	if c.MaxScheduled <= 0 {
		c.MaxScheduled = defaultMaxScheduled
	}
	if c.ReplayCapacity == 0 {
		c.ReplayCapacity = defaultReplayCapacity
	}
	if c.ReplayFP <= 0 {
		c.ReplayFP = defaultReplayFP
	}
	if c.ClientHold <= 0 {
		c.ClientHold = defaultClientHold
	}
	if c.ClientHoldFor <= 0 {
		c.ClientHoldFor = defaultClientHoldFor
	}
}

func (c *Config) validate() error {
	switch c.Role {
	case directory.RoleMix:
		if c.Layer < 1 || c.Layer > 3 {
			return fmt.Errorf("mixnet: config: layer %d: a mix is in layer 1, 2 or 3", c.Layer)
		}
	case directory.RoleGateway, directory.RoleService:
		if c.Layer != 0 {
			return fmt.Errorf("mixnet: config: layer %d: only mixes have a layer", c.Layer)
		}
	default:
		return fmt.Errorf("mixnet: config: role %d is not gateway, mix or service", c.Role)
	}
	if len(c.Identity) != ed25519.PrivateKeySize {
		return errors.New("mixnet: config: identity: not an Ed25519 private key")
	}
	if c.Listen == "" {
		return errors.New("mixnet: config: listen: an address is required")
	}
	if err := c.Network.Geometry.Validate(); err != nil {
		return fmt.Errorf("mixnet: config: network: %w", err)
	}
	if c.Network.EpochPeriod <= 0 {
		return errors.New("mixnet: config: network: epoch_period must be positive")
	}
	if !(c.ReplayFP >= MinReplayFP && c.ReplayFP < 1) {
		return fmt.Errorf("mixnet: config: replay_fp %v: want a false-positive rate from %g to below 1", c.ReplayFP, MinReplayFP)
	}
	if c.Role != directory.RoleService && len(c.Services) > 0 {
		return errors.New("mixnet: config: services: only service nodes run services")
	}
	for name := range c.Services {
		if _, err := RecipientName(name); err != nil {
			return fmt.Errorf("mixnet: config: services: %w", err)
		}
	}
	return nil
}

// Node is one mixnet node: gateway, mix or service. It listens for links,
// unwraps what arrives on a pool of workers, holds each packet for its delay
// and sends it on over links it keeps open to its next hops.
type Node struct {
	cfg     Config
	geo     onion.Geometry
	log     *slog.Logger
	metrics *Metrics
	keys    *EpochKeys
	router  *Router
	topo    *topology
	clients *clients
	linkCfg *link.Config

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ln     net.Listener
	work   chan inbound
	// handshakes counts handshakes in progress.
	handshakes chan struct{}

	linksMu sync.Mutex
	links   map[onion.NodeID]*outLink
	conns   map[*link.Conn]struct{}
	extra   []net.Listener // listeners added with Serve
	closing bool

	buffers *bufferPool // packet buffers, recycled between links and workers

	loops      *cover.LoopTracker
	loopStream *cover.NodeLoops

	uploaded uint64        // last epoch whose descriptor reached the authorities
	syncNow  chan struct{} // asks the directory loop for an early sync
	lastSync atomic.Int64  // unix nanos of the last early sync asked for
}

// NewNode checks cfg and opens the node's onion keys.
func NewNode(cfg Config) (*Node, error) {
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	keyDir := ""
	if cfg.DataDir != "" {
		keyDir = filepath.Join(cfg.DataDir, "onion")
	}
	keys, err := OpenEpochKeys(keyDir, cfg.ReplayCapacity, cfg.ReplayFP)
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg:        cfg,
		geo:        cfg.Network.Geometry,
		log:        cfg.Logger.With("node", cfg.Name, "role", cfg.Role.String()),
		metrics:    NewMetrics(cfg.Registry),
		keys:       keys,
		topo:       newTopology(position{role: cfg.Role, layer: cfg.Layer}),
		work:       make(chan inbound, cfg.QueueLen),
		handshakes: make(chan struct{}, 64),
		links:      map[onion.NodeID]*outLink{},
		conns:      map[*link.Conn]struct{}{},
		syncNow:    make(chan struct{}, 1),
		buffers:    newBufferPool(cfg.Network.Geometry.PacketLen(), cfg.QueueLen+cfg.LinkQueue),
	}
	keys.SetLogger(n.log)
	n.clients = newClients(n)
	services := map[onion.Recipient]Service{
		RecipientDrop: ServiceFunc(func(*Request) {}),
		RecipientLoop: ServiceFunc(func(r *Request) {
			if n.loops != nil && len(r.Body) >= len(cover.LoopID{}) {
				n.loops.Returned(cover.LoopID(r.Body[:len(cover.LoopID{})]))
			}
		}),
	}
	for name, s := range cfg.Services {
		r, _ := RecipientName(name)
		services[r] = s
	}
	var sink ClientSink
	if cfg.Role == directory.RoleGateway {
		sink = n.clients
	}
	n.router = NewRouter(RouterConfig{Geometry: n.geo, Keys: keys, Clock: cfg.Clock, Outbox: n,
		Clients: sink, Services: services, Metrics: n.metrics, MaxScheduled: cfg.MaxScheduled,
		EpochPeriod: cfg.Network.EpochPeriod, Grace: cfg.Network.EpochPeriod / 10,
		Hold: cfg.HoldOutgoing})
	n.router.SetRoutes(n.topo.canSendTo)
	n.linkCfg = &link.Config{
		FrameLen:         n.geo.PacketLen(),
		Static:           cfg.Link,
		Prologue:         cfg.Network.Prologue(),
		Clock:            cfg.Clock,
		Authorize:        n.authorize,
		HandshakeTimeout: defaultHandshakeTimeout,
		RekeyInterval:    2 * time.Minute,
	}
	return n, nil
}

// ID is the node's id in routing commands.
func (n *Node) ID() onion.NodeID {
	d := directory.Descriptor{IdentityKey: n.cfg.Identity.Public().(ed25519.PublicKey)}
	return d.ID()
}

// Metrics returns the node's instruments.
func (n *Node) Metrics() *Metrics { return n.metrics }

// Router returns the node's packet logic.
func (n *Node) Router() *Router { return n.router }

// Addr is the listener's address once started.
func (n *Node) Addr() net.Addr {
	if n.ln == nil {
		return nil
	}
	return n.ln.Addr()
}

// Start listens for links and runs the node until ctx ends or Close.
func (n *Node) Start(ctx context.Context) error {
	ln, err := n.cfg.Transport.Listen(n.cfg.Listen)
	if err != nil {
		return fmt.Errorf("mixnet: listening on %s: %w", n.cfg.Listen, err)
	}
	n.ln = ln
	n.ctx, n.cancel = context.WithCancel(ctx)
	epoch := n.epochAt(n.cfg.Clock.Now())
	if err := n.keys.Ensure(epoch, epoch+1, epoch+2); err != nil {
		ln.Close()
		return err
	}
	n.startLoops()
	n.wg.Add(1 + n.cfg.Workers)
	go n.acceptLoop(ln)
	for range n.cfg.Workers {
		go n.worker()
	}
	if n.cfg.Directory != nil {
		n.wg.Add(1)
		go n.directoryLoop()
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		<-n.ctx.Done()
		n.shutdown()
	}()
	n.log.Info("node started", "listen", ln.Addr().String(), "id", n.ID().String())
	return nil
}

// Serve accepts links on another listener as well as the node's own: a
// gateway's Tor onion service, for instance. It returns at once; the node
// closes ln when it stops.
func (n *Node) Serve(ln net.Listener) error {
	n.linksMu.Lock()
	defer n.linksMu.Unlock()
	if n.ctx == nil || n.closing {
		return errors.New("mixnet: Serve on a node that is not running")
	}
	n.extra = append(n.extra, ln)
	n.wg.Add(1)
	go n.acceptLoop(ln)
	return nil
}

// Close stops the node, waits for its goroutines and writes its replay
// filters to disk.
func (n *Node) Close() error {
	if n.cancel == nil {
		return nil
	}
	n.cancel()
	n.wg.Wait()
	return n.keys.Close()
}

func (n *Node) shutdown() {
	n.linksMu.Lock()
	n.closing = true
	conns := make([]*link.Conn, 0, len(n.conns))
	for c := range n.conns {
		conns = append(conns, c)
	}
	extra := n.extra
	n.linksMu.Unlock()
	n.ln.Close()
	for _, ln := range extra {
		ln.Close()
	}
	for _, c := range conns {
		c.Close()
	}
	if n.loopStream != nil {
		n.loopStream.Stop()
		n.loops.Stop()
	}
	n.router.Close()
}

func (n *Node) epochAt(t time.Time) uint64 {
	return directory.Schedule{Period: n.cfg.Network.EpochPeriod}.Epoch(t)
}

// Descriptor returns this node's signed descriptor carrying its onion keys
// for the given epochs.
func (n *Node) Descriptor(epochs ...uint64) ([]byte, error) {
	if err := n.keys.Ensure(epochs...); err != nil {
		return nil, err
	}
	pubs := n.keys.Public(epochs...)
	d := &directory.Descriptor{
		IdentityKey:  n.cfg.Identity.Public().(ed25519.PublicKey),
		Name:         n.cfg.Name,
		Role:         n.cfg.Role,
		Layer:        uint8(n.cfg.Layer),
		Address:      n.advertised(),
		OnionAddress: n.cfg.OnionAddress,
		LinkKey:      n.cfg.Link.Public,
		Published:    n.cfg.Clock.Now().Truncate(time.Second),
	}
	for _, e := range epochs {
		d.OnionKeys = append(d.OnionKeys, directory.EpochKey{Epoch: e, Key: pubs[e]})
	}
	for name := range n.cfg.Services {
		d.Services = append(d.Services, name)
	}
	slices.Sort(d.Services)
	return directory.SignDescriptor(d, n.cfg.Identity)
}

func (n *Node) advertised() string {
	if n.cfg.Advertise != "" {
		return n.cfg.Advertise
	}
	if n.ln != nil {
		return n.ln.Addr().String()
	}
	return n.cfg.Listen
}

// Ready reports whether the node holds the current epoch's document and has
// a live link to every next hop in it.
func (n *Node) Ready() bool {
	if !n.topo.has(n.epochAt(n.cfg.Clock.Now())) {
		return false
	}
	n.linksMu.Lock()
	defer n.linksMu.Unlock()
	for _, d := range n.topo.nextHops() {
		if l := n.links[d.ID()]; l == nil || !l.up.Load() {
			return false
		}
	}
	return true
}

// AddDocument makes a verified directory document part of the node's view:
// its topology decides links and routes; its parameters set the epochs.
// Documents of another geometry or epoch length are refused.
func (n *Node) AddDocument(doc *directory.Document) error {
	p := doc.Params
	if p.Geometry() != n.geo || p.EpochPeriod != n.cfg.Network.EpochPeriod {
		return fmt.Errorf("mixnet: directory for epoch %d describes another network (geometry %+v, epochs of %v)",
			doc.Epoch, p.Geometry(), p.EpochPeriod)
	}
	keepFrom := doc.Epoch
	if cur := n.epochAt(n.cfg.Clock.Now()); cur > 0 {
		keepFrom = min(keepFrom, cur-1)
	}
	n.topo.add(doc, keepFrom)
	n.router.SetEpochs(p.EpochPeriod, p.Grace)
	if n.loopStream != nil {
		n.loopStream.SetRate(p.LambdaM)
	}
	if doc.Node(n.ID()) == nil {
		n.log.Warn("this node is not in the directory", "epoch", doc.Epoch)
	}
	// Open links to next hops now, so the first packets find them ready,
	// and cut short the backoff of links a peer refused: the new document
	// may be what it was waiting for.
	if n.ctx != nil {
		for _, d := range n.topo.nextHops() {
			n.outLink(d.ID()).wake()
		}
	}
	return nil
}

// syncSoon asks the directory loop to fetch documents now, at most once per
// defaultSyncAfterRefusal: a peer this node refused may be in a document it
// has not fetched yet.
func (n *Node) syncSoon() {
	now := n.cfg.Clock.Now().UnixNano()
	last := n.lastSync.Load()
	if now-last < int64(defaultSyncAfterRefusal) || !n.lastSync.CompareAndSwap(last, now) {
		return
	}
	select {
	case n.syncNow <- struct{}{}:
	default:
	}
}

// directoryLoop publishes descriptors and fetches documents: at every step
// it makes sure the keys for this and the next two epochs exist, uploads
// the descriptor once an epoch, fetches the documents of this epoch and the
// next, and destroys keys whose grace has passed.
func (n *Node) directoryLoop() {
	defer n.wg.Done()
	period := n.cfg.Network.EpochPeriod
	for n.ctx.Err() == nil {
		now := n.cfg.Clock.Now()
		e := n.epochAt(now)
		n.syncDirectory(e)
		_, inGrace := n.router.Epoch(now)
		if e >= 2 {
			drop := e - 1
			if inGrace {
				drop = e - 2
			}
			if err := n.keys.Drop(drop); err != nil {
				n.log.Warn("destroying old keys", "err", err)
			}
		}
		n.clients.expire(now)
		n.metrics.ReplayFill.Set(n.keys.fill(e))
		if n.loops != nil {
			n.metrics.loopReport(n.loops.Last())
		}
		step := period / 8
		next := directory.Schedule{Period: period}.Start(e + 1)
		if toNext := next.Sub(now); toNext > 0 && toNext < step {
			step = toNext + time.Millisecond
		}
		if !n.waitOrSync(step) {
			return
		}
	}
}

func (n *Node) waitOrSync(d time.Duration) bool {
	ch := make(chan struct{})
	t := n.cfg.Clock.AfterFunc(d, func() { close(ch) })
	defer t.Stop()
	select {
	case <-ch:
	case <-n.syncNow:
	case <-n.ctx.Done():
		return false
	}
	return true
}

func (n *Node) syncDirectory(e uint64) {
	if n.uploaded < e || n.uploaded == 0 {
		desc, err := n.Descriptor(e, e+1, e+2)
		if err == nil {
			err = n.cfg.Directory.Upload(n.ctx, desc)
		}
		if err != nil {
			n.log.Warn("publishing descriptor", "epoch", e, "err", err)
		} else {
			n.uploaded = e
		}
	}
	for _, want := range []uint64{e, e + 1} {
		if n.topo.has(want) {
			continue
		}
		doc, err := n.cfg.Directory.Fetch(n.ctx, want)
		if err != nil {
			if want == e {
				n.log.Debug("fetching directory", "epoch", want, "err", err)
			}
			continue
		}
		if err := n.AddDocument(doc); err != nil {
			n.log.Error("refusing directory", "err", err)
		}
	}
}
