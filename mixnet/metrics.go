package mixnet

import (
	"time"

	"loam/cover"

	"github.com/prometheus/client_golang/prometheus"
)

// DropReason says why a node dropped a packet or frame; it labels the drop
// counter.
type DropReason string

// Drop reasons. Operators alert on these: a rise in replay or mac drops is an
// attack or a broken peer; overload means the node needs more CPU.
const (
	DropReplay      DropReason = "replay"       // replay tag seen before
	DropMAC         DropReason = "mac"          // header MAC, DH or payload check failed
	DropMalformed   DropReason = "malformed"    // wrong length or unknown command
	DropNoKey       DropReason = "no_key"       // no live onion key for the packet's phase
	DropOverload    DropReason = "overload"     // a bounded queue was full
	DropUnknownPeer DropReason = "unknown_peer" // handshake from a key the topology does not allow
	DropBadNextHop  DropReason = "bad_next_hop" // relay to a node we may not send to
	DropLinkDown    DropReason = "link_down"    // no link to the next hop could take it
	DropNoService   DropReason = "no_service"   // deliver to a recipient this node does not serve
	DropNoClient    DropReason = "no_client"    // reply for a client queue the gateway cannot hold
	DropBadFrame    DropReason = "bad_frame"    // undecryptable or unexpected link frame
	DropInjected    DropReason = "injected"     // a configured fault (tests, the test bed)
)

// Metrics are a node's Prometheus instruments. A nil *Metrics records
// nothing, which is what the simulator uses.
type Metrics struct {
	FramesIn   *prometheus.CounterVec // by kind: node, client
	FramesOut  *prometheus.CounterVec
	Drops      *prometheus.CounterVec // by reason
	Delivered  *prometheus.CounterVec // by recipient
	QueueDepth prometheus.Gauge       // packets waiting to be unwrapped
	Scheduled  prometheus.Gauge       // packets held for their mixing delay
	Unwrap     prometheus.Histogram   // seconds per unwrap
	HopDelay   prometheus.Histogram   // sender-chosen delay applied, seconds
	Lateness   prometheus.Histogram   // time held beyond the chosen delay, seconds
	Links      *prometheus.GaugeVec   // open links by direction and kind
	ReplayFill prometheus.Gauge       // current key's filter fill / capacity
	LoopLoss   prometheus.Gauge       // loss ratio of the node's own loops in the window
	LoopAlarm  prometheus.Gauge       // 1 while loop loss exceeds what link loss explains
}

// NewMetrics registers a node's instruments with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		FramesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loam_frames_received_total", Help: "Link frames received, by peer kind."}, []string{"kind"}),
		FramesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loam_frames_sent_total", Help: "Link frames sent, by peer kind."}, []string{"kind"}),
		Drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loam_drops_total", Help: "Packets or frames dropped, by reason."}, []string{"reason"}),
		Delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loam_delivered_total", Help: "Packets delivered at this node, by recipient."}, []string{"recipient"}),
		QueueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "loam_unwrap_queue_depth", Help: "Packets waiting for an unwrap worker."}),
		Scheduled: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "loam_scheduled_packets", Help: "Packets held for their mixing delay."}),
		Unwrap: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "loam_unwrap_seconds", Help: "Time to unwrap one packet.",
			Buckets: prometheus.ExponentialBuckets(25e-6, 2, 10)}),
		HopDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "loam_hop_delay_seconds", Help: "Mixing delay chosen by senders.",
			Buckets: prometheus.ExponentialBuckets(1e-3, 2, 14)}),
		Lateness: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "loam_hop_lateness_seconds", Help: "Time a packet spent in the node beyond its mixing delay.",
			Buckets: prometheus.ExponentialBuckets(10e-6, 2, 14)}),
		Links: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "loam_links_open", Help: "Open links, by direction and peer kind."}, []string{"direction", "kind"}),
		ReplayFill: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "loam_replay_filter_fill_ratio", Help: "Tags in the current key's replay filter over its capacity."}),
		LoopLoss: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "loam_loop_loss_ratio", Help: "Share of the node's own loops lost in the judged window."}),
		LoopAlarm: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "loam_loop_alarm", Help: "1 while loop loss exceeds what link loss explains (n-1 attack or failing mix)."}),
	}
	if reg != nil {
		reg.MustRegister(m.FramesIn, m.FramesOut, m.Drops, m.Delivered, m.QueueDepth, m.Scheduled,
			m.Unwrap, m.HopDelay, m.Lateness, m.Links, m.ReplayFill, m.LoopLoss, m.LoopAlarm)
	}
	return m
}

func (m *Metrics) drop(r DropReason) {
	if m != nil {
		m.Drops.WithLabelValues(string(r)).Inc()
	}
}

func (m *Metrics) unwrapTook(d time.Duration) {
	if m != nil {
		m.Unwrap.Observe(d.Seconds())
	}
}

func (m *Metrics) delivered(r string) {
	if m != nil {
		m.Delivered.WithLabelValues(r).Inc()
	}
}

func (m *Metrics) frameIn(kind string) {
	if m != nil {
		m.FramesIn.WithLabelValues(kind).Inc()
	}
}

func (m *Metrics) frameOut(kind string) {
	if m != nil {
		m.FramesOut.WithLabelValues(kind).Inc()
	}
}

func (m *Metrics) link(direction, kind string, delta float64) {
	if m != nil {
		m.Links.WithLabelValues(direction, kind).Add(delta)
	}
}

func (m *Metrics) loopReport(r cover.Report) {
	if m == nil {
		return
	}
	m.LoopLoss.Set(r.Loss)
	if r.Alarm {
		m.LoopAlarm.Set(1)
	} else {
		m.LoopAlarm.Set(0)
	}
}
