package cover

import "time"

// Bounds fixed by the cover traffic rules of SPEC.md.
const (
	// MaxRate is the largest rate a Stream runs at; a higher one is clamped.
	// The directory allows at most 1000/s; this only keeps a corrupt value
	// from turning a stream into a busy loop.
	MaxRate = 1e6

	// maxGap bounds a single gap (about 146 years) so that a tiny rate
	// cannot overflow a time.Duration.
	maxGap = time.Duration(1 << 62)

	// maxLag is how far behind its schedule a Stream may fall (a stalled
	// process, a suspended machine) before it gives up the missed slots
	// and draws its next gap from now instead of sending them in a burst.
	maxLag = time.Second
)

// Tunables: defaults of ClientConfig and LoopTrackerConfig.
const (
	// DefaultQueueLen bounds the real packets waiting for a slot.
	DefaultQueueLen = 1024
	// DefaultMaxWait is how long a real packet may wait for a slot, and a
	// drop packet be kept ready, before it is discarded. It is half the
	// default grace of SPEC.md §5.3: a packet is built with the keys of the
	// epoch it was made in, and mixes stop accepting them after the grace.
	DefaultMaxWait = time.Minute

	// DefaultWindow is the sliding window of loops a LoopTracker judges.
	DefaultWindow = 10 * time.Minute
	// DefaultTimeout is how long a loop may take to come back before it
	// counts as lost (far above a loop's mean latency, 5–8 hops of
	// μ⁻¹ = 50 ms each).
	DefaultTimeout = time.Minute
	// DefaultExpectedLoss is the loop loss that link failures explain.
	DefaultExpectedLoss = 0.02
	// DefaultAlpha is the significance level at which the alarm rises.
	DefaultAlpha = 1e-3
	// DefaultClearAlpha is the p-value at or above which a raised alarm
	// clears. It is far above Alpha so that a loss rate near the threshold
	// does not make the alarm flap.
	DefaultClearAlpha = 0.05
	// DefaultMinSamples is the number of judged loops needed for a verdict.
	DefaultMinSamples = 30
	// DefaultMaxTracked bounds the loops a tracker remembers (about 5 MB);
	// beyond it new loops go untracked until old ones leave the window.
	DefaultMaxTracked = 1 << 16
	// checksPerWindow sets the default period of a tracker's checks.
	checksPerWindow = 20
)
