package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"loam/cmd/loam-node/nodeconfig"
	"loam/internal/clock"
	"loam/internal/xrand"
	"loam/mixnet"
	"loam/mixnet/directory"
	"loam/mixnet/link"
	"loam/onion"
)

// Fault injection ([faults], a testing aid for the test bed): the node
// drops packets it sends with a rule's probability (through
// mixnet.Config.DropOutgoing, counted as loam_drops_total{reason="injected"}),
// holds some relayed packets back past their mixing delay so that later
// ones overtake them (mixnet.Config.HoldOutgoing), and delays the writes on
// its outgoing links (a Transport wrapper that holds each write back, in
// order: a TCP link cannot reorder, so reordering happens above it). Rules come from node.toml or, live, from
// a control file re-read every second; the node exports the version of the
// rules in force so that a test knows when new ones took effect.

// controlPoll is how often the control file is checked for changes.
const controlPoll = time.Second

// delayQueue bounds the writes one delayed link holds; a full queue makes
// the writer wait, as a slow link would.
const delayQueue = 256

// faultInjector applies the rules in force.
type faultInjector struct {
	cfg   nodeconfig.Faults
	log   *slog.Logger
	clock clock.Clock
	// ids maps a next hop's address to its node id, for the links the
	// Transport dials (a rule names next hops by id).
	ids func(addr string) (onion.NodeID, bool)

	rules   atomic.Pointer[[]nodeconfig.FaultRule]
	version prometheus.Gauge
	delayed prometheus.Counter
	held    prometheus.Counter

	// last is what the control file held when it was last read.
	last []byte
}

// newFaultInjector returns nil when faults are off.
func newFaultInjector(cfg *nodeconfig.Config, reg prometheus.Registerer, log *slog.Logger) *faultInjector {
	if !cfg.Faults.Enabled {
		return nil
	}
	f := &faultInjector{cfg: cfg.Faults, log: log.With("component", "faults"), clock: clock.Real()}
	fetcher := &directory.Fetcher{Authorities: cfg.Authorities, Threshold: cfg.Threshold,
		CacheDir: nodeCacheDir(cfg), Logger: slog.New(slog.DiscardHandler)}
	f.ids = func(addr string) (onion.NodeID, bool) {
		doc, err := fetcher.LoadCached()
		if err != nil {
			return onion.NodeID{}, false
		}
		for _, d := range doc.Nodes {
			if d.Address == addr {
				return d.ID(), true
			}
		}
		return onion.NodeID{}, false
	}
	rules := []nodeconfig.FaultRule{}
	if !cfg.Faults.Rule.Zero() {
		rules = append(rules, cfg.Faults.Rule)
	}
	f.rules.Store(&rules)
	enabled := prometheus.NewGauge(prometheus.GaugeOpts{Name: "loam_faults_enabled",
		Help: "1: this node injects faults ([faults], a testing aid)."})
	enabled.Set(1)
	f.version = prometheus.NewGauge(prometheus.GaugeOpts{Name: "loam_faults_version",
		Help: "Version of the fault rules in force (the control file's; 0 for node.toml's)."})
	f.delayed = prometheus.NewCounter(prometheus.CounterOpts{Name: "loam_faults_delayed_writes_total",
		Help: "Writes on outgoing links held back by a fault rule."})
	f.held = prometheus.NewCounter(prometheus.CounterOpts{Name: "loam_faults_reordered_total",
		Help: "Relayed packets held back past their mixing delay by a fault rule, for later ones to overtake."})
	reg.MustRegister(enabled, f.version, f.delayed, f.held)
	f.log.Warn("FAULT INJECTION IS ON: this node drops and delays packets on purpose (a testing aid; never on a real network)",
		"control", cfg.Faults.Control, "loss", cfg.Faults.Rule.Loss, "delay", cfg.Faults.Rule.Delay, "jitter", cfg.Faults.Rule.Jitter,
		"reorder", cfg.Faults.Rule.Reorder, "reorder_hold", cfg.Faults.Rule.Hold)
	if f.cfg.Control != "" {
		f.reload()
	}
	return f
}

// nodeCacheDir is where the node's directory fetcher keeps documents.
func nodeCacheDir(cfg *nodeconfig.Config) string { return filepath.Join(cfg.DataDir, "directory") }

// rule returns the first rule in force that covers next, or nil.
func (f *faultInjector) rule(next onion.NodeID) *nodeconfig.FaultRule {
	rules := *f.rules.Load()
	for i := range rules {
		if rules[i].Applies(next) {
			return &rules[i]
		}
	}
	return nil
}

// drop is mixnet.Config.DropOutgoing.
func (f *faultInjector) drop(next onion.NodeID) bool {
	r := f.rule(next)
	return r != nil && r.Loss > 0 && xrand.Float64() <= r.Loss
}

// hold is mixnet.Config.HoldOutgoing: with the first applicable rule's
// reorder probability, a uniformly random time up to its hold.
func (f *faultInjector) hold(next onion.NodeID) time.Duration {
	r := f.rule(next)
	if r == nil || r.Reorder == 0 || r.Hold == 0 || xrand.Float64() > r.Reorder {
		return 0
	}
	f.held.Inc()
	return time.Duration(xrand.Float64() * float64(r.Hold))
}

// delay is how long a write on the link to next is held now.
func (f *faultInjector) delay(next onion.NodeID, known bool) time.Duration {
	rules := *f.rules.Load()
	for i := range rules {
		r := &rules[i]
		if len(r.To) > 0 && !known {
			continue
		}
		if !r.Applies(next) {
			continue
		}
		d := r.Delay
		if r.Jitter > 0 {
			d += time.Duration(xrand.Float64() * float64(r.Jitter))
		}
		return d
	}
	return 0
}

// watch re-reads the control file every controlPoll until ctx ends.
func (f *faultInjector) watch(ctx context.Context) {
	if f.cfg.Control == "" {
		return
	}
	for {
		done := make(chan struct{})
		t := f.clock.AfterFunc(controlPoll, func() { close(done) })
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-done:
		}
		f.reload()
	}
}

// reload loads the control file if it changed. A missing file means no
// rules beyond node.toml's; a bad one keeps the rules in force.
func (f *faultInjector) reload() {
	b, err := os.ReadFile(f.cfg.Control)
	if errors.Is(err, os.ErrNotExist) {
		b = nil
	} else if err != nil {
		f.log.Warn("reading the fault rules", "err", err)
		return
	}
	if f.last != nil && bytes.Equal(b, f.last) {
		return
	}
	f.last = append([]byte{}, b...)
	if b == nil {
		return
	}
	c, err := nodeconfig.DecodeFaultControl(f.cfg.Control, b)
	if err != nil {
		f.log.Warn("fault rules refused; keeping those in force", "err", err)
		return
	}
	rules := c.Rules
	if rules == nil {
		rules = []nodeconfig.FaultRule{}
	}
	f.rules.Store(&rules)
	f.version.Set(float64(c.Version))
	f.log.Info("fault rules loaded", "version", c.Version, "rules", len(rules))
}

// transport wraps inner so that writes on links the node dials are held
// back as the rules say.
func (f *faultInjector) transport(inner link.Transport) link.Transport {
	return faultTransport{inner: inner, f: f}
}

type faultTransport struct {
	inner link.Transport
	f     *faultInjector
}

func (t faultTransport) Dial(ctx context.Context, addr string) (net.Conn, error) {
	c, err := t.inner.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	id, known := t.f.ids(addr)
	return newDelayConn(c, t.f, id, known), nil
}

func (t faultTransport) Listen(addr string) (net.Listener, error) { return t.inner.Listen(addr) }

// delayConn holds each Write back for the delay the rules give at the
// time of the write, and never lets a write overtake an earlier one: a
// slow link, not a reordering one (frames are sealed in sequence).
type delayConn struct {
	net.Conn
	f     *faultInjector
	next  onion.NodeID
	known bool

	mu      sync.Mutex
	last    time.Time // due time of the last write queued
	pending int       // writes queued and not yet written
	err     error     // the first failed write; every later one fails

	q      chan delayedWrite
	closed chan struct{}
	once   sync.Once
}

type delayedWrite struct {
	due time.Time
	b   []byte
}

func newDelayConn(c net.Conn, f *faultInjector, next onion.NodeID, known bool) *delayConn {
	d := &delayConn{Conn: c, f: f, next: next, known: known,
		q: make(chan delayedWrite, delayQueue), closed: make(chan struct{})}
	go d.writer()
	return d
}

func (c *delayConn) Write(p []byte) (int, error) {
	d := c.f.delay(c.next, c.known)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return 0, err
	}
	if d == 0 && c.pending == 0 {
		defer c.mu.Unlock()
		return c.Conn.Write(p)
	}
	due := c.f.clock.Now().Add(d)
	if due.Before(c.last) {
		due = c.last
	}
	c.last = due
	c.pending++
	c.mu.Unlock()
	c.f.delayed.Inc()
	select {
	case c.q <- delayedWrite{due: due, b: append([]byte(nil), p...)}:
		return len(p), nil
	case <-c.closed:
		return 0, net.ErrClosed
	}
}

// writer writes each queued write when it is due.
func (c *delayConn) writer() {
	for {
		select {
		case w := <-c.q:
			if wait := w.due.Sub(c.f.clock.Now()); wait > 0 {
				due := make(chan struct{})
				t := c.f.clock.AfterFunc(wait, func() { close(due) })
				select {
				case <-due:
				case <-c.closed:
					t.Stop()
					return
				}
			}
			_, err := c.Conn.Write(w.b)
			c.mu.Lock()
			c.pending--
			if err != nil && c.err == nil {
				c.err = err
			}
			c.mu.Unlock()
			if err != nil {
				c.Close()
				return
			}
		case <-c.closed:
			return
		}
	}
}

func (c *delayConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// faultHooks returns what mixnet.Config takes from the injector; nil hooks
// when faults are off.
func faultHooks(f *faultInjector, mc *mixnet.Config) {
	if f == nil {
		return
	}
	if mc.Transport == nil {
		mc.Transport = link.TCP{}
	}
	mc.DropOutgoing, mc.HoldOutgoing, mc.Transport = f.drop, f.hold, f.transport(mc.Transport)
}
