package sim

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
)

// Result is everything a run measured. It is written as metrics.json; the
// per-sample data behind it (Samples) goes to the CSV files.
type Result struct {
	Scenario Scenario `json:"scenario"`
	// Crypto says how packets were made and opened: "real" onion packets
	// or the "model" (see the package documentation).
	Crypto      string  `json:"crypto"`
	WallSeconds float64 `json:"wall_seconds"`
	// SimCPUSeconds and AdversaryCPUSeconds are the CPU time of the
	// simulation's goroutine and of the adversary's, which run in
	// parallel (0 where the system cannot tell).
	SimCPUSeconds       float64 `json:"sim_cpu_seconds"`
	AdversaryCPUSeconds float64 `json:"adversary_cpu_seconds"`
	VirtualSeconds      float64 `json:"virtual_seconds"`
	ObservedSeconds     float64 `json:"observed_seconds"` // after the warm-up
	Transmissions       int64   `json:"transmissions"`
	Deterministic       string  `json:"determinism"`

	Mixes         []MixMetrics      `json:"mixes"`
	Mix           MixSummary        `json:"mix_summary"`
	EndToEnd      EndToEnd          `json:"end_to_end"`
	Unlinkability Unlinkability     `json:"unlinkability"`
	Timing        Timing            `json:"timing_correlation"`
	Disclosure    DisclosureSummary `json:"disclosure"`
	Latency       []LatencyMetrics  `json:"latency"`
	Bandwidth     Bandwidth         `json:"bandwidth"`
	Traffic       []KindTraffic     `json:"traffic"`
	Clients       ClientCover       `json:"client_cover"`
	NodeLoops     []NodeLoop        `json:"node_loops"`
	RealPath      *RealPath         `json:"real_path,omitempty"`

	Samples Samples `json:"-"`
}

// MixMetrics is one mix's entropy as the adversary measures it.
type MixMetrics struct {
	Node        int    `json:"node"`
	Layer       int    `json:"layer"`
	Compromised bool   `json:"compromised"`
	Outputs     int64  `json:"outputs"`
	Lambda      Num    `json:"lambda"` // measured input rate, packets/s
	LambdaOverM Num    `json:"lambda_over_mu"`
	Entropy     Num    `json:"entropy_bits"` // mean over outputs, over input packets
	EntropySD   Num    `json:"entropy_sd"`
	Theory      Num    `json:"theory_bits"` // log2(e·λ/μ)
	AnonSet     Num    `json:"anonymity_set"`
	SenderH     Num    `json:"sender_entropy_bits"` // over the inputs' senders (sampled)
	SenderN     int64  `json:"sender_samples"`
	Role        string `json:"role"`
}

// MixSummary averages the mixes (honest ones; a compromised mix provides
// no entropy, which EndToEnd accounts for).
type MixSummary struct {
	Entropy       Num `json:"entropy_bits"`
	Theory        Num `json:"theory_bits"`
	AnonSet       Num `json:"anonymity_set"`
	SenderEntropy Num `json:"sender_entropy_bits"`
	LambdaOverMu  Num `json:"lambda_over_mu"`
}

// EndToEnd is the adversary's estimate of a packet's sender from the
// whole network's links.
type EndToEnd struct {
	Samples       int `json:"samples"`
	Entropy       Num `json:"entropy_bits_mean"`
	EntropyMedian Num `json:"entropy_bits_median"`
	AnonSet       Num `json:"anonymity_set"` // 2^mean entropy
	MaxEntropy    Num `json:"max_entropy_bits"`
	RankMedian    Num `json:"true_sender_rank_median"`
	Truncated     Num `json:"truncated_mass"`
}

// Unlinkability is ε = |ln(p0/p1)| for packets of two challenge senders.
type Unlinkability struct {
	Senders  [2]int `json:"senders"`
	Samples  int    `json:"samples"`
	Median   Num    `json:"eps_median"`
	Mean     Num    `json:"eps_mean"` // over finite values
	P90      Num    `json:"eps_p90"`
	Infinite int    `json:"infinite"` // samples where one sender had probability 0
}

// Timing is the timing-correlation attack on posts.
type Timing struct {
	Posts          int `json:"posts"`
	Clients        int `json:"clients"`
	RankMedian     Num `json:"rank_median"`
	RankMean       Num `json:"rank_mean"`
	Top1           Num `json:"top1_share"`
	Top10          Num `json:"top10_share"`
	PosteriorRank  Num `json:"network_rank_median"` // the same posts, ranked by the end-to-end estimate
	PosteriorPosts int `json:"network_posts"`
}

// DisclosureSummary is the statistical disclosure attack, with the
// scenario's cover and, when compared, with cover off.
type DisclosureSummary struct {
	Run     *Disclosure `json:"run"`
	NoCover *Disclosure `json:"no_cover,omitempty"`
	// Factor is how many times longer the attack needs with cover than
	// without; FactorKind says whether it is "measured", a "lower bound"
	// (not found with cover within the run), "extrapolated" (from the
	// growth of the scores of targets not found), "no progress with
	// cover" or "not found without cover". LowerBound, when the attack
	// with cover did not succeed, is the run's length over the measured
	// cover-off time.
	Factor     Num    `json:"factor"`
	FactorKind string `json:"factor_kind"`
	LowerBound Num    `json:"factor_lower_bound"`
}

// Disclosure is one run's attack on its targets.
type Disclosure struct {
	Cover        bool        `json:"cover"`
	Targets      []Target    `json:"targets"`
	Found        int         `json:"found"`
	Median       Num         `json:"median_seconds"`              // of observation until found (+Inf: most never)
	Extrapolated Num         `json:"median_extrapolated_seconds"` // found or estimated
	Observed     float64     `json:"observed_seconds"`
	Times        []float64   `json:"-"`
	Fraction     [][]float64 `json:"-"`
}

// Target is one target of the disclosure attack.
type Target struct {
	Client       int   `json:"client"`
	Friends      int   `json:"friends"`
	Sends        int64 `json:"sends"`
	FoundAfter   Num   `json:"found_after_seconds"` // NaN (null): not found
	Extrapolated Num   `json:"extrapolated_seconds"`
	FinalShare   Num   `json:"final_share_in_top_m"`
}

// LatencyMetrics are quantiles of one kind of latency, in seconds.
type LatencyMetrics struct {
	Kind    string `json:"kind"`
	What    string `json:"what"`
	Samples int64  `json:"samples"`
	Mean    Num    `json:"mean"`
	P50     Num    `json:"p50"`
	P90     Num    `json:"p90"`
	P99     Num    `json:"p99"`
	Max     Num    `json:"max"`
}

// Bandwidth is what a client costs.
type Bandwidth struct {
	SentPerClient     Num `json:"sent_packets_per_second"`
	RecvPerClient     Num `json:"received_packets_per_second"`
	SentBytesPerSec   Num `json:"sent_bytes_per_second"`
	RecvBytesPerSec   Num `json:"received_bytes_per_second"`
	WireFrameBytes    int `json:"wire_frame_bytes"`
	RealPerClient     Num `json:"real_packets_per_second"`
	CoverShareClient  Num `json:"cover_share_client"` // of client → gateway packets
	CoverShareNetwork Num `json:"cover_share_links"`  // of all link transmissions
}

// KindTraffic counts one kind of packet.
type KindTraffic struct {
	Kind      string `json:"kind"`
	Real      bool   `json:"real"`
	Built     int64  `json:"built"`
	Arrived   int64  `json:"arrived"`
	Dropped   int64  `json:"dropped"`
	ClientTx  int64  `json:"client_transmissions"`
	LinkTx    int64  `json:"link_transmissions"`
	LinkShare Num    `json:"link_share"`
}

// ClientCover sums the clients' cover.Client counters.
type ClientCover struct {
	Real       uint64 `json:"real"`
	Drop       uint64 `json:"drop"`
	Loop       uint64 `json:"loop"`
	DropStream uint64 `json:"drop_stream"`
	Queued     int    `json:"queued_at_end"`
	Expired    uint64 `json:"expired"`
	Refused    int64  `json:"refused"`
}

// NodeLoop is a node's own loop accounting at the end of the run.
type NodeLoop struct {
	Node   int     `json:"node"`
	Role   string  `json:"role"`
	Layer  int     `json:"layer"`
	Sent   uint64  `json:"sent"`
	Judged int     `json:"judged"`
	Lost   int     `json:"lost"`
	Loss   float64 `json:"loss"`
	Alarms int     `json:"alarms"`
}

// RealPath is the check of the real cryptographic path (crypto = "real").
type RealPath struct {
	RepliesOpened int64 `json:"replies_opened"`
	RepliesBad    int64 `json:"replies_bad"`
}

// Samples are the per-sample data behind the summaries.
type Samples struct {
	MixEntropy []float64 // per-output entropy, a reservoir over all mixes
	Exits      []exitSample
	TimingRank []float64
	Latency    map[string][]float64
	SentPerSec []float64 // per client
	RecvPerSec []float64
}

// Num is a float that JSON writes as null when NaN and as "+Inf"/"-Inf"
// when infinite (JSON has no such numbers).
type Num float64

// MarshalJSON implements json.Marshaler.
func (n Num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	switch {
	case math.IsNaN(f):
		return []byte("null"), nil
	case math.IsInf(f, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(f, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, f, 'g', 6, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (n *Num) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "null":
		*n = Num(math.NaN())
		return nil
	case `"+Inf"`:
		*n = Num(math.Inf(1))
		return nil
	case `"-Inf"`:
		*n = Num(math.Inf(-1))
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*n = Num(f)
	return nil
}

// quantile of sorted values (linear interpolation); NaN for none.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(sorted)-1)
	i := int(pos)
	if i >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	f := pos - float64(i)
	a, b := sorted[i], sorted[i+1]
	if f == 0 || a == b {
		return a
	}
	return a + f*(b-a)
}

func sortedCopy(v []float64) []float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
