package cover

import (
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"loam/internal/clock"
)

// LoopTrackerConfig configures a LoopTracker. Zero fields take their
// defaults; a field out of bounds is logged and replaced by its default.
type LoopTrackerConfig struct {
	Clock clock.Clock // nil: the wall clock
	// Window is the span of loop deadlines judged together (default
	// DefaultWindow).
	Window time.Duration
	// Timeout is how long a loop may take before it counts as lost
	// (default DefaultTimeout). A loop that returns later, while still in
	// the window, counts as returned.
	Timeout time.Duration
	// ExpectedLoss is the loss rate link failures explain, in [0, 1)
	// (default DefaultExpectedLoss; set a negative value for exactly 0).
	ExpectedLoss float64
	// Alpha is the significance level at which the alarm rises, in (0, 1)
	// (default DefaultAlpha).
	Alpha float64
	// ClearAlpha is the p-value at or above which a raised alarm clears,
	// in [Alpha, 1] (default max(DefaultClearAlpha, Alpha)).
	ClearAlpha float64
	// MinSamples is the number of judged loops needed for a verdict
	// (default DefaultMinSamples).
	MinSamples int
	// MaxTracked bounds the loops remembered (default DefaultMaxTracked).
	MaxTracked int
	// CheckEvery is the period of Start's checks (default Window/20).
	CheckEvery time.Duration
	// OnAlarm is called when the alarm rises and, separately, when it
	// clears; Report.Alarm tells which. It runs in the goroutine that ran
	// the check and must not call Check.
	OnAlarm func(Report)
	Logger  *slog.Logger // nil: slog.Default()
}

// Validate reports a field out of its bounds.
func (cfg LoopTrackerConfig) Validate() error {
	bad := func(what string, v any) error { return fmt.Errorf("%w: loop tracker %s %v", ErrConfig, what, v) }
	switch {
	case cfg.Window < 0:
		return bad("window", cfg.Window)
	case cfg.Timeout < 0:
		return bad("timeout", cfg.Timeout)
	case math.IsNaN(cfg.ExpectedLoss) || cfg.ExpectedLoss >= 1:
		return bad("expected loss", cfg.ExpectedLoss)
	case math.IsNaN(cfg.Alpha) || cfg.Alpha < 0 || cfg.Alpha >= 1:
		return bad("alpha", cfg.Alpha)
	case math.IsNaN(cfg.ClearAlpha) || cfg.ClearAlpha < 0 || cfg.ClearAlpha > 1 ||
		(cfg.ClearAlpha > 0 && cfg.ClearAlpha < cfg.Alpha):
		return bad("clear alpha", cfg.ClearAlpha)
	case cfg.MinSamples < 0:
		return bad("minimum samples", cfg.MinSamples)
	case cfg.MaxTracked < 0:
		return bad("maximum tracked", cfg.MaxTracked)
	case cfg.CheckEvery < 0:
		return bad("check period", cfg.CheckEvery)
	}
	return nil
}

// withDefaults fills zero fields and replaces bad ones by their defaults.
func (cfg LoopTrackerConfig) withDefaults() LoopTrackerConfig {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	switch {
	case cfg.ExpectedLoss < 0:
		cfg.ExpectedLoss = 0
	case cfg.ExpectedLoss == 0 || math.IsNaN(cfg.ExpectedLoss) || cfg.ExpectedLoss >= 1:
		cfg.ExpectedLoss = DefaultExpectedLoss
	}
	if !(cfg.Alpha > 0 && cfg.Alpha < 1) {
		cfg.Alpha = DefaultAlpha
	}
	if !(cfg.ClearAlpha >= cfg.Alpha && cfg.ClearAlpha <= 1) {
		cfg.ClearAlpha = max(DefaultClearAlpha, cfg.Alpha)
	}
	if cfg.MinSamples <= 0 {
		cfg.MinSamples = DefaultMinSamples
	}
	if cfg.MaxTracked <= 0 {
		cfg.MaxTracked = DefaultMaxTracked
	}
	if cfg.CheckEvery <= 0 {
		cfg.CheckEvery = max(cfg.Window/checksPerWindow, time.Millisecond)
	}
	return cfg
}

// Report is the verdict of one check.
type Report struct {
	Judged   int     // loops whose deadline fell within the window
	Returned int     // of those, the loops that came back (late ones too)
	Lost     int     // Judged − Returned
	Loss     float64 // Lost / Judged (0 when nothing was judged)
	PValue   float64 // P[X ≥ Lost] for X ~ Binomial(Judged, ExpectedLoss)
	Alarm    bool    // the alarm state after this check
}

// LoopTracker keeps the loops sent over a sliding window and tests whether
// more are lost than link failures explain. Its methods are safe for
// concurrent use.
//
// A loop sent at time s has its deadline at s + Timeout; a check at time t
// judges the loops whose deadline lies in (t − Window, t]. A judged loop
// has returned if Returned was called for it before the check, late or not;
// otherwise it is lost. The alarm rises when at least MinSamples loops are
// judged and the one-sided binomial p-value of the losses is below Alpha,
// and clears when, with enough samples, it is at least ClearAlpha.
type LoopTracker struct {
	cfg LoopTrackerConfig
	log *slog.Logger

	mu        sync.Mutex
	recs      ring[loopRec] // in order of sending
	base      uint64        // sequence number of recs' first record
	byID      map[LoopID]uint64
	untracked uint64 // loops not recorded because MaxTracked were held

	checkMu  sync.Mutex // serialises checks and their OnAlarm calls
	alarm    bool
	lastWarn time.Time

	lastMu sync.Mutex
	last   Report // the latest check's, for Last

	runMu   sync.Mutex
	running bool
	timer   clock.Timer
	gen     uint64
}

type loopRec struct {
	id        LoopID
	sent      time.Time
	back      bool // returned: no longer in byID
	cancelled bool // never left: not judged
}

// NewLoopTracker returns a tracker; Start runs its periodic check.
func NewLoopTracker(cfg LoopTrackerConfig) *LoopTracker {
	if err := cfg.Validate(); err != nil {
		log := cfg.Logger
		if log == nil {
			log = slog.Default()
		}
		log.Warn("cover: loop tracker configuration; using defaults for bad fields", "err", err)
	}
	cfg = cfg.withDefaults()
	return &LoopTracker{cfg: cfg, log: cfg.Logger, byID: make(map[LoopID]uint64)}
}

// Sent records that the loop id left now. An id already outstanding is
// ignored, and so is every new loop while MaxTracked are held.
func (t *LoopTracker) Sent(id LoopID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// The time is read under the lock so that records stay in time order.
	now := t.cfg.Clock.Now()
	t.pruneLocked(now)
	if _, ok := t.byID[id]; ok {
		return
	}
	if t.recs.len() >= t.cfg.MaxTracked {
		t.untracked++
		return
	}
	t.byID[id] = t.base + uint64(t.recs.len())
	t.recs.pushBack(loopRec{id: id, sent: now})
}

// Returned records that the loop id came back. Unknown ids — never sent,
// returned already, or forgotten after leaving the window — are ignored.
func (t *LoopTracker) Returned(id LoopID) { t.settle(id, false) }

// Cancel withdraws a loop whose packet never left (its send failed), so
// that it is not judged at all. Unknown ids are ignored.
func (t *LoopTracker) Cancel(id LoopID) { t.settle(id, true) }

// settle removes id from the outstanding loops and marks its record
// returned, or cancelled.
func (t *LoopTracker) settle(id LoopID, cancel bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	seq, ok := t.byID[id]
	if !ok {
		return
	}
	delete(t.byID, id)
	r := t.recs.at(int(seq - t.base))
	r.back, r.cancelled = true, cancel
}

// Tracked returns the number of loops held and of those left untracked
// because MaxTracked were held.
func (t *LoopTracker) Tracked() (held int, untracked uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.recs.len(), t.untracked
}

// pruneLocked forgets the loops whose deadline has left the window for
// good: those sent at or before now − Timeout − Window.
func (t *LoopTracker) pruneLocked(now time.Time) {
	horizon := now.Add(-t.cfg.Timeout - t.cfg.Window)
	for t.recs.len() > 0 && !t.recs.at(0).sent.After(horizon) {
		r := t.recs.popFront()
		if !r.back {
			delete(t.byID, r.id)
		}
		t.base++
	}
}

// Check judges the window now, updates the alarm and reports. It calls
// OnAlarm when the alarm rises or clears, and logs a warning when it rises
// and every Window while it stays raised.
func (t *LoopTracker) Check() Report {
	t.checkMu.Lock()
	defer t.checkMu.Unlock()

	r, now := t.judge()
	was := t.alarm
	if r.Judged >= t.cfg.MinSamples {
		switch {
		case !t.alarm && r.PValue < t.cfg.Alpha:
			t.alarm = true
		case t.alarm && r.PValue >= t.cfg.ClearAlpha:
			t.alarm = false
		}
	}
	r.Alarm = t.alarm

	switch {
	case r.Alarm && (!was || now.Sub(t.lastWarn) >= t.cfg.Window):
		t.lastWarn = now
		t.log.Warn("cover: loop loss above what link failures explain; possible n-1 attack",
			"judged", r.Judged, "lost", r.Lost, "loss", r.Loss, "expected", t.cfg.ExpectedLoss, "p", r.PValue)
	case was && !r.Alarm:
		t.log.Info("cover: loop loss back to normal", "judged", r.Judged, "lost", r.Lost, "p", r.PValue)
	}
	t.lastMu.Lock()
	t.last = r
	t.lastMu.Unlock()
	if was != r.Alarm && t.cfg.OnAlarm != nil {
		t.cfg.OnAlarm(r)
	}
	return r
}

// judge counts the loops whose deadline lies in (now − Window, now] and
// their returns, and computes the p-value; the alarm is left to Check.
func (t *LoopTracker) judge() (Report, time.Time) {
	t.mu.Lock()
	now := t.cfg.Clock.Now()
	t.pruneLocked(now) // what remains was sent after now − Timeout − Window
	var r Report
	cut := now.Add(-t.cfg.Timeout) // deadline passed: sent at or before cut
	for i := 0; i < t.recs.len(); i++ {
		rec := t.recs.at(i)
		if rec.sent.After(cut) {
			break
		}
		if rec.cancelled {
			continue
		}
		r.Judged++
		if rec.back {
			r.Returned++
		}
	}
	t.mu.Unlock()

	r.Lost = r.Judged - r.Returned
	if r.Judged > 0 {
		r.Loss = float64(r.Lost) / float64(r.Judged)
	}
	r.PValue = binomialUpperTail(r.Judged, r.Lost, t.cfg.ExpectedLoss)
	return r, now
}

// Last returns the report of the latest check (the zero Report before the
// first), for metrics that must not run a check themselves.
func (t *LoopTracker) Last() Report {
	t.lastMu.Lock()
	defer t.lastMu.Unlock()
	return t.last
}

// Start runs Check every CheckEvery on the clock.
func (t *LoopTracker) Start() {
	t.runMu.Lock()
	defer t.runMu.Unlock()
	if t.running {
		return
	}
	t.running = true
	t.armLocked()
}

// Stop stops the periodic checks; a check under way runs to its end.
func (t *LoopTracker) Stop() {
	t.runMu.Lock()
	defer t.runMu.Unlock()
	t.running = false
	t.gen++
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
}

func (t *LoopTracker) armLocked() {
	t.gen++
	gen := t.gen
	t.timer = t.cfg.Clock.AfterFunc(t.cfg.CheckEvery, func() { t.periodic(gen) })
}

func (t *LoopTracker) periodic(gen uint64) {
	t.runMu.Lock()
	live := t.running && gen == t.gen
	t.runMu.Unlock()
	if !live {
		return
	}
	t.Check()
	t.runMu.Lock()
	defer t.runMu.Unlock()
	if t.running && gen == t.gen {
		t.armLocked()
	}
}
