package cover

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"loam/internal/clock"
)

// LoopID names a loop packet so that its return can be matched to its
// sending. The Maker chooses it (16 random bytes, or bytes derived from the
// packet's SURB id).
type LoopID [16]byte

// Maker builds cover packets on demand. The mixnet client and node implement
// it with the directory of the current epoch. Its methods may be called from
// several goroutines at once.
type Maker interface {
	// DropPacket returns a packet to a random service's "drop" recipient,
	// which discards it.
	DropPacket() ([]byte, error)
	// LoopPacket returns a packet that travels every layer and comes back
	// to its sender, and the id the sender will report when it returns.
	LoopPacket() (pkt []byte, id LoopID, err error)
}

// ClientConfig configures a Client.
type ClientConfig struct {
	Clock clock.Clock // nil: the wall clock
	Rates Rates
	Maker Maker
	// Send hands a packet to the gateway link. It must not block (queue or
	// fail instead) and must be safe for concurrent use: the three streams
	// call it independently.
	Send func(pkt []byte) error
	// Loops tracks the client's loops; nil: loops are sent but not tracked.
	Loops *LoopTracker
	// QueueLen bounds the real packets waiting for a slot (default
	// DefaultQueueLen).
	QueueLen int
	// MaxWait is how long a real packet may wait for its slot, and a drop
	// packet be kept ready for one, before it is discarded (default
	// DefaultMaxWait; negative: no limit). Packets are built with the keys
	// of their epoch, which mixes accept only until the grace after it ends
	// (SPEC.md §5.3): set MaxWait below that grace.
	MaxWait time.Duration
	// OnExpire, if set, is given each real packet discarded for waiting
	// longer than MaxWait, so the caller can rebuild and resend it.
	OnExpire func(pkt []byte)
	Logger   *slog.Logger // nil: slog.Default()
}

// Validate reports a configuration the client cannot run with.
func (cfg ClientConfig) Validate() error {
	if err := cfg.Rates.Validate(); err != nil {
		return err
	}
	if cfg.Maker == nil {
		return fmt.Errorf("%w: no Maker", ErrConfig)
	}
	if cfg.Send == nil {
		return fmt.Errorf("%w: no Send function", ErrConfig)
	}
	if cfg.QueueLen < 0 {
		return fmt.Errorf("%w: negative QueueLen %d", ErrConfig, cfg.QueueLen)
	}
	return nil
}

// ClientStats are a client's counters since it was made.
type ClientStats struct {
	Real       uint64 // real packets sent in real-or-drop slots
	Drop       uint64 // drop packets sent in real-or-drop slots
	Loop       uint64 // loop packets sent
	DropStream uint64 // packets sent by the drop stream
	Queued     int    // real packets waiting for a slot now
	Expired    uint64 // real packets discarded after waiting MaxWait
	SendErrors uint64 // Send calls that failed
	MakeErrors uint64 // Maker calls that failed (the slot went unused)
}

// Client runs a client's three cover streams (SPEC.md, cover traffic): the
// real-or-drop stream, which alone carries real packets, the loop stream and
// the drop stream.
type Client struct {
	clock    clock.Clock
	maker    Maker
	send     func([]byte) error
	loops    *LoopTracker
	queueLen int
	maxWait  time.Duration
	onExpire func([]byte)
	log      *slog.Logger

	realOrDrop, loop, drop *Stream

	mu      sync.Mutex
	queue   ring[queued]
	spare   []byte    // a drop packet built ahead for the next empty slot
	spareAt time.Time // when spare was built

	nReal, nDrop, nLoop, nDropStream atomic.Uint64
	nExpired, nSendErr, nMakeErr     atomic.Uint64
}

type queued struct {
	pkt []byte
	at  time.Time // when it was enqueued
}

// NewClient returns a stopped client. A configuration that fails Validate is
// logged; the client then runs with bad rates off and counts every use of a
// missing Maker or Send as an error.
func NewClient(cfg ClientConfig) *Client {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		cfg.Logger.Error("cover: client configuration", "err", err)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.Maker == nil {
		cfg.Maker = failingMaker{}
	}
	if cfg.Send == nil {
		cfg.Send = func([]byte) error { return errNoSend }
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = DefaultMaxWait
	}
	c := &Client{
		clock: cfg.Clock, maker: cfg.Maker, send: cfg.Send, loops: cfg.Loops,
		queueLen: cfg.QueueLen, maxWait: cfg.MaxWait, onExpire: cfg.OnExpire,
		log: cfg.Logger,
	}
	c.realOrDrop = NewStream(cfg.Clock, cfg.Rates.RealOrDrop, c.realOrDropSlot)
	c.loop = NewStream(cfg.Clock, cfg.Rates.Loop, c.loopSlot)
	c.drop = NewStream(cfg.Clock, cfg.Rates.Drop, c.dropSlot)
	return c
}

// Enqueue queues a real packet for the next real-or-drop slot. The client
// keeps pkt: the caller must not change it afterwards. It returns
// ErrQueueFull, keeping nothing, when QueueLen packets already wait.
// Packets may be queued before Start and while stopped.
func (c *Client) Enqueue(pkt []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.queue.len() >= c.queueLen {
		return ErrQueueFull
	}
	c.queue.pushBack(queued{pkt: pkt, at: c.clock.Now()})
	return nil
}

// Start starts the three streams.
func (c *Client) Start() {
	c.prepareSpare()
	c.realOrDrop.Start()
	c.loop.Start()
	c.drop.Start()
}

// Stop stops the three streams; queued packets stay queued.
func (c *Client) Stop() {
	c.realOrDrop.Stop()
	c.loop.Stop()
	c.drop.Stop()
}

// SetRates sets the three rates, as a new epoch's directory gives them; each
// takes effect at once (Stream.SetRate).
func (c *Client) SetRates(r Rates) {
	if err := r.Validate(); err != nil {
		c.log.Warn("cover: client rates", "err", err)
	}
	c.realOrDrop.SetRate(r.RealOrDrop)
	c.loop.SetRate(r.Loop)
	c.drop.SetRate(r.Drop)
}

// Stats returns the client's counters.
func (c *Client) Stats() ClientStats {
	c.mu.Lock()
	queued := c.queue.len()
	c.mu.Unlock()
	return ClientStats{
		Real: c.nReal.Load(), Drop: c.nDrop.Load(), Loop: c.nLoop.Load(),
		DropStream: c.nDropStream.Load(), Queued: queued, Expired: c.nExpired.Load(),
		SendErrors: c.nSendErr.Load(), MakeErrors: c.nMakeErr.Load(),
	}
}

// realOrDropSlot fills one slot of the real-or-drop stream: the oldest real
// packet if one waits, a drop packet otherwise. Only this decides what goes;
// when the slot comes was decided by the stream without looking at the
// queue.
func (c *Client) realOrDropSlot() {
	now := c.clock.Now()
	c.mu.Lock()
	var (
		head     queued
		real     bool
		expired  [][]byte
		spare    []byte
		spareFor time.Duration
	)
	for c.queue.len() > 0 {
		q := c.queue.popFront()
		if c.maxWait > 0 && now.Sub(q.at) > c.maxWait {
			expired = append(expired, q.pkt)
			continue
		}
		head, real = q, true
		break
	}
	if !real {
		spare, spareFor = c.spare, now.Sub(c.spareAt)
		c.spare = nil
	}
	c.mu.Unlock()

	if real {
		c.sendReal(head)
	} else {
		c.sendDrop(spare, spareFor)
	}
	c.expire(expired)
	// Build the drop for a later empty slot now, after this slot's packet
	// has gone: a drop slot then costs no more time than a real one.
	c.prepareSpare()
}

func (c *Client) sendReal(q queued) {
	if err := c.send(q.pkt); err != nil {
		// Put it back at the head, as a gateway does with a reply whose
		// write failed: the link may be back by the next slot. It keeps
		// its age, so MaxWait still bounds how long it waits.
		c.nSendErr.Add(1)
		c.log.Debug("cover: send real packet", "err", err)
		c.mu.Lock()
		c.queue.pushFront(q)
		c.mu.Unlock()
		return
	}
	c.nReal.Add(1)
}

func (c *Client) sendDrop(spare []byte, age time.Duration) {
	if spare == nil || (c.maxWait > 0 && age > c.maxWait) {
		var err error
		if spare, err = c.maker.DropPacket(); err != nil {
			c.nMakeErr.Add(1)
			c.log.Debug("cover: make drop packet", "err", err)
			return
		}
	}
	if err := c.send(spare); err != nil {
		c.nSendErr.Add(1)
		c.log.Debug("cover: send drop packet", "err", err)
		return
	}
	c.nDrop.Add(1)
}

func (c *Client) prepareSpare() {
	c.mu.Lock()
	have := c.spare != nil
	c.mu.Unlock()
	if have {
		return
	}
	pkt, err := c.maker.DropPacket()
	if err != nil {
		return // built on the spot at the next empty slot, which counts the error
	}
	c.mu.Lock()
	c.spare, c.spareAt = pkt, c.clock.Now()
	c.mu.Unlock()
}

func (c *Client) expire(pkts [][]byte) {
	for _, p := range pkts {
		c.nExpired.Add(1)
		if c.onExpire != nil {
			c.onExpire(p)
		}
	}
}

func (c *Client) loopSlot() {
	if sendLoop(c.maker, c.send, c.loops, &c.nSendErr, &c.nMakeErr, c.log) {
		c.nLoop.Add(1)
	}
}

func (c *Client) dropSlot() {
	pkt, err := c.maker.DropPacket()
	if err != nil {
		c.nMakeErr.Add(1)
		c.log.Debug("cover: make drop packet", "err", err)
		return
	}
	if err := c.send(pkt); err != nil {
		c.nSendErr.Add(1)
		c.log.Debug("cover: send drop packet", "err", err)
		return
	}
	c.nDropStream.Add(1)
}

// sendLoop builds and sends one loop, telling the tracker (if any) before
// the packet leaves, so that even an instant return finds it known, and
// withdrawing it if the packet never left.
func sendLoop(m Maker, send func([]byte) error, t *LoopTracker, sendErr, makeErr *atomic.Uint64, log *slog.Logger) bool {
	pkt, id, err := m.LoopPacket()
	if err != nil {
		makeErr.Add(1)
		log.Debug("cover: make loop packet", "err", err)
		return false
	}
	if t != nil {
		t.Sent(id)
	}
	if err := send(pkt); err != nil {
		sendErr.Add(1)
		log.Debug("cover: send loop packet", "err", err)
		if t != nil {
			t.Cancel(id)
		}
		return false
	}
	return true
}

type failingMaker struct{}

var (
	errNoMaker = fmt.Errorf("%w: no Maker", ErrConfig)
	errNoSend  = fmt.Errorf("%w: no Send function", ErrConfig)
)

func (failingMaker) DropPacket() ([]byte, error)         { return nil, errNoMaker }
func (failingMaker) LoopPacket() ([]byte, LoopID, error) { return nil, LoopID{}, errNoMaker }
