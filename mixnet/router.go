package mixnet

import (
	"errors"
	"sync/atomic"
	"time"

	"loam/internal/clock"
	"loam/onion"
)

// Outbox takes packets bound for other nodes. Send must not block: a link
// that cannot queue the packet drops it and counts the drop.
type Outbox interface {
	Send(next onion.NodeID, pkt []byte)
}

// ClientSink takes SURB replies for the clients of a gateway.
type ClientSink interface {
	DeliverReply(queue onion.Recipient, id onion.SURBID, sealed []byte)
}

// Router is a node's packet logic with no I/O of its own: it unwraps,
// filters replays, holds each packet for its delay and hands it on, delivers
// to local services, and passes SURB replies to clients. Links feed it and
// drain it; the simulator drives the same Router under a virtual clock.
type Router struct {
	geo      onion.Geometry
	keys     *EpochKeys
	clock    clock.Clock
	out      Outbox
	clients  ClientSink
	services map[onion.Recipient]Service
	metrics  *Metrics
	sched    *scheduler
	unwrap   func(*onion.PrivateKey, []byte) (onion.Unwrapped, error)
	hold     func(onion.NodeID) time.Duration

	epochs    atomic.Pointer[epochTiming]
	canSendTo atomic.Pointer[func(onion.NodeID) bool]
}

type epochTiming struct {
	period, grace time.Duration
}

// RouterConfig configures a Router.
type RouterConfig struct {
	Geometry onion.Geometry
	Keys     *EpochKeys
	Clock    clock.Clock
	Outbox   Outbox
	// Clients receives SURB replies (gateways); nil drops them.
	Clients ClientSink
	// Services are the recipients this node serves, built-ins included.
	Services map[onion.Recipient]Service
	Metrics  *Metrics
	// MaxScheduled bounds the packets held for their delay.
	MaxScheduled int
	// EpochPeriod and Grace place packets in epochs until SetEpochs.
	EpochPeriod, Grace time.Duration
	// Unwrap replaces the onion layer's Unwrap: the simulator's cost model
	// for runs too large for real cryptography. Nil is Geometry.Unwrap.
	Unwrap func(key *onion.PrivateKey, pkt []byte) (onion.Unwrapped, error)
	// Hold, if set, adds to a relayed packet's delay: fault injection
	// (Config.HoldOutgoing). Nil adds nothing.
	Hold func(next onion.NodeID) time.Duration
}

// NewRouter returns a Router; it relays to no one until SetRoutes.
func NewRouter(cfg RouterConfig) *Router {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.MaxScheduled <= 0 {
		cfg.MaxScheduled = defaultMaxScheduled
	}
	r := &Router{geo: cfg.Geometry, keys: cfg.Keys, clock: cfg.Clock, out: cfg.Outbox,
		clients: cfg.Clients, services: cfg.Services, metrics: cfg.Metrics, unwrap: cfg.Unwrap, hold: cfg.Hold}
	if r.unwrap == nil {
		r.unwrap = cfg.Geometry.Unwrap
	}
	r.sched = newScheduler(cfg.Clock, cfg.MaxScheduled, r.release)
	r.SetEpochs(cfg.EpochPeriod, cfg.Grace)
	none := func(onion.NodeID) bool { return false }
	r.canSendTo.Store(&none)
	return r
}

// SetEpochs sets the epoch length and the grace window of old keys.
func (r *Router) SetEpochs(period, grace time.Duration) {
	if period <= 0 {
		period = time.Hour
	}
	r.epochs.Store(&epochTiming{period: period, grace: grace})
}

// SetRoutes sets which next hops this node may relay to (the topology).
func (r *Router) SetRoutes(canSendTo func(onion.NodeID) bool) { r.canSendTo.Store(&canSendTo) }

// Epoch returns the current epoch and whether the previous epoch's keys are
// still in their grace window.
func (r *Router) Epoch(now time.Time) (current uint64, inGrace bool) {
	t := r.epochs.Load()
	since := now.Sub(time.Unix(0, 0))
	current = uint64(since / t.period)
	inGrace = since%t.period < t.grace
	return current, inGrace
}

// Handle processes one packet that arrived at received. It reports whether
// it kept pkt (a relayed packet passes to the Outbox); otherwise the caller
// may reuse the buffer once Handle returns.
func (r *Router) Handle(pkt []byte, received time.Time) (kept bool) {
	cur, grace := r.Epoch(r.clock.Now())
	k := r.keys.lookup(cur, grace, onion.KeyPhase(pkt))
	if k == nil {
		r.metrics.drop(DropNoKey)
		return false
	}
	var start time.Time
	if r.metrics != nil {
		start = time.Now() // a CPU-time metric, not protocol time
	}
	u, err := r.unwrap(k.priv, pkt)
	if r.metrics != nil {
		r.metrics.unwrapTook(time.Since(start))
	}
	if err != nil {
		if errors.Is(err, onion.ErrAuthentication) {
			r.metrics.drop(DropMAC)
		} else {
			r.metrics.drop(DropMalformed)
		}
		return false
	}
	if k.filter().seen(&u.ReplayTag) {
		r.metrics.drop(DropReplay)
		return false
	}
	switch u.Command {
	case onion.Relay:
		if !(*r.canSendTo.Load())(u.Next) {
			r.metrics.drop(DropBadNextHop)
			return false
		}
		if r.metrics != nil {
			r.metrics.HopDelay.Observe(u.Delay.Seconds())
		}
		due := received.Add(u.Delay)
		if r.hold != nil {
			due = due.Add(r.hold(u.Next))
		}
		if !r.sched.schedule(due, u.Next, u.Packet) {
			r.metrics.drop(DropOverload)
			return false
		}
		return true
	case onion.Deliver:
		r.deliver(u.Recipient, u.Payload)
	case onion.SURBReply:
		if r.clients == nil {
			r.metrics.drop(DropNoClient)
			return false
		}
		r.clients.DeliverReply(u.Recipient, u.SURBID, u.Payload)
	}
	return false
}

// release sends a packet whose delay is over.
func (r *Router) release(next onion.NodeID, pkt []byte, due time.Time) {
	if r.metrics != nil {
		r.metrics.Lateness.Observe(r.clock.Now().Sub(due).Seconds())
	}
	r.out.Send(next, pkt)
}

func (r *Router) deliver(to onion.Recipient, payload []byte) {
	svc, ok := r.services[to]
	if !ok {
		r.metrics.drop(DropNoService)
		return
	}
	if r.metrics != nil {
		r.metrics.delivered(recipientLabel(to))
	}
	surb, body := parseRequest(r.geo, payload)
	req := &Request{Body: body, send: r.reply}
	if surb != nil {
		req.surb = append([]byte(nil), surb...)
	}
	svc.Serve(req)
}

// reply seals body into surb and sends it to the SURB's first hop at once:
// the reply path's own hops do the mixing.
func (r *Router) reply(surb, body []byte) error {
	first, pkt, err := r.geo.NewReply(surb, body)
	if err != nil {
		return err
	}
	if !(*r.canSendTo.Load())(first) {
		r.metrics.drop(DropBadNextHop)
		return errors.New("mixnet: reply block starts at a node this one may not send to")
	}
	r.out.Send(first, pkt)
	return nil
}

// Scheduled is the number of packets held for their delay.
func (r *Router) Scheduled() int { return r.sched.len() }

// Close stops the delay timer; held packets are abandoned.
func (r *Router) Close() { r.sched.stop() }

func recipientLabel(r onion.Recipient) string {
	n := 0
	for n < len(r) && r[n] != 0 {
		n++
	}
	for _, c := range r[:n] {
		if c < 0x21 || c > 0x7e {
			return "other"
		}
	}
	if n == 0 {
		return "other"
	}
	return string(r[:n])
}
