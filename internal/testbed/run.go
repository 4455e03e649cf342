//go:build linux

package testbed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"loam/cmd/loam-node/nodeconfig"
)

// Options configure a run of the bed.
type Options struct {
	// Long runs every scenario for minutes with more people (make faults);
	// otherwise each runs for seconds (make test).
	Long bool
	// Dir is the working directory; a temporary one, removed afterwards,
	// when empty.
	Dir string
	// Bin holds loam-node, loam and tbclient; empty builds them.
	Bin string
	// Out hears progress and each row as it completes; nil: nothing.
	Out io.Writer
	// Only runs the named scenarios and checks (by id); empty runs all.
	Only []string
}

// runner is one run: the bed, the ledger and what the scenarios share.
type runner struct {
	o      Options
	b      *Bed
	ledger *Ledger
	// friends are each person's friends, by name: who reads their posts.
	friends map[string][]string
	load    Load
	// faultVersion numbers the fault rules written.
	faultVersion int64
	// clockOffset is how far ahead of the real clock the feeds' clocks run.
	clockOffset time.Duration
	start       time.Time
	// cliDir is the data directory of the person who runs loam itself.
	cliDir string

	mu       sync.Mutex
	problems []string
	security []SecRow
	syncs    syncStats
}

// addSecurity records a security check's row.
func (r *runner) addSecurity(s SecRow) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.security = append(r.security, s)
}

func (r *runner) log(format string, args ...any) { r.b.say(format, args...) }

// problem records something that must fail the run though it is neither
// a loss nor a duplicate.
func (r *runner) problem(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

func (r *runner) takeProblems() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.problems
	r.problems = nil
	return p
}

// specFor is the bed of a short or long run.
func specFor(long bool, dir, bin string) Spec {
	// The short run's epochs are seconds, not minutes: its clients wait
	// seconds, not tens of them, before they ask again.
	s := Spec{Dir: dir, Bin: bin, Params: BedParameters(5*time.Second, 5*time.Second, 8), MaxSkew: 2 * time.Minute,
		RetryBase: time.Second, RetryMax: 8 * time.Second}
	if long {
		s.Params = BedParameters(20*time.Second, 10*time.Second, 4)
		s.ClientHosts, s.UsersPerHost, s.Friends = 4, 5, 4
		s.MaxSkew = 10 * time.Minute
		s.RetryBase, s.RetryMax = 0, 0
	}
	return s
}

// loadFor is the traffic of every scenario.
func loadFor(long bool) Load {
	if long {
		return Load{Window: 40 * time.Second, PostEvery: 8 * time.Second, AttachEvery: 5, AttachBytes: 12 << 10,
			SyncPause: 5 * time.Second, Drain: 4 * time.Minute}
	}
	return Load{Window: 3 * time.Second, PostEvery: 2 * time.Second, AttachEvery: 4, AttachBytes: 4 << 10,
		SyncPause: time.Second, Drain: 90 * time.Second}
}

// Run builds what it needs, runs a bed, every scenario and security
// check, and returns the report. The bed is torn down whatever happens.
func Run(ctx context.Context, o Options) (rep *Report, err error) {
	start := time.Now()
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	if err := RequireRoot(); err != nil {
		return nil, err
	}
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "loam-testbed-")
		if err != nil {
			return nil, err
		}
		defer func() {
			if err == nil {
				os.RemoveAll(d)
			} else {
				fmt.Fprintf(out, "logs kept in %s\n", d)
			}
		}()
		dir = d
	}
	bin := o.Bin
	if bin == "" {
		bin = filepath.Join(dir, "bin")
		fmt.Fprintf(out, "building loam-node, loam and tbclient ...\n")
		if err := Build(ctx, bin); err != nil {
			return nil, err
		}
	}
	spec := specFor(o.Long, filepath.Join(dir, "bed"), bin)
	b, err := New(ctx, spec, out)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := b.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	r := &runner{o: o, b: b, ledger: NewLedger(), load: loadFor(o.Long), start: start}
	rep = &Report{Mode: map[bool]string{true: "long", false: "short"}[o.Long], Date: start, Machine: machine()}
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	rep.Setup = r.describe()
	r.log("%s", rep.Setup)

	sampler, stopSampler := context.WithCancel(ctx)
	defer stopSampler()
	go func() {
		for sampler.Err() == nil {
			b.SampleRSS()
			select {
			case <-sampler.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	before, err := r.goroutines(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range r.scenarios() {
		if !r.selected(s.id) {
			continue
		}
		row, err := r.runScenario(ctx, s)
		if err != nil {
			return rep, err
		}
		rep.Rows = append(rep.Rows, row)
		r.log("%s", rowLine(row))
		for _, m := range row.Missing {
			r.log("    %s", m)
		}
	}
	for _, c := range r.checks() {
		if !r.selected(c.id) {
			continue
		}
		r.log("check %s (at %s)", c.id, time.Since(r.start).Round(time.Second))
		sec, err := c.run(ctx, r)
		if err != nil {
			return rep, err
		}
		r.addSecurity(sec)
		r.log("  %s: %d of %d refused: %s%s", sec.Check, sec.Refused, sec.Tries, verdict(sec.Pass()), noteOf(sec.Note, sec.Err))
	}
	r.mu.Lock()
	rep.Security = r.security
	r.mu.Unlock()
	if n := r.ledger.Strays(); n > 0 {
		r.problem("%d entries read that nobody posted", n)
	}
	after, err := r.settledGoroutines(ctx)
	if err != nil {
		return rep, err
	}
	for _, n := range b.MixNodes() {
		rep.Goroutines = append(rep.Goroutines, GoroutineRow{Node: n.Name, Before: before[n.Name], After: after[n.Name]})
	}
	stopSampler()
	rep.PeakRSS = b.PeakRSS()
	if ps := r.takeProblems(); len(ps) > 0 {
		rep.Rows = append(rep.Rows, Row{Fault: "whole run", Err: strings.Join(ps, "; ")})
	}
	rep.Took = time.Since(start)
	return rep, nil
}

func (r *runner) selected(id string) bool {
	return len(r.o.Only) == 0 || slices.Contains(r.o.Only, id)
}

// setup starts the bed and the people, makes friends in a ring, and has
// everyone sync once, so that the first scenario does not pay for the
// first syncs' reads of every mailbox epoch in retention.
func (r *runner) setup(ctx context.Context) error {
	b := r.b
	start := time.Now()
	if err := b.Start(ctx); err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := b.WaitReady(rctx); err != nil {
		return err
	}
	r.log("%d nodes up and ready in %.1fs", len(b.Nodes), time.Since(start).Seconds())
	if err := b.StartClients(ctx); err != nil {
		return err
	}
	people := b.People()
	r.friends = map[string][]string{}
	for i, p := range people {
		for d := 1; d <= b.Spec.Friends/2; d++ {
			q := people[(i+d)%len(people)]
			r.friends[p.Name()] = append(r.friends[p.Name()], q.Name())
			r.friends[q.Name()] = append(r.friends[q.Name()], p.Name())
			if err := p.AddFriend(ctx, q.C.Users[q.I].Code); err != nil {
				return err
			}
			if err := q.AddFriend(ctx, p.C.Users[p.I].Code); err != nil {
				return err
			}
		}
	}
	var wg sync.WaitGroup
	for _, p := range people {
		wg.Go(func() {
			sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
			defer cancel()
			p.Sync(sctx)
		})
	}
	// A person who uses the loam command itself, on the first client
	// host: the authorities-down scenario asks it how it is.
	r.cliDir = filepath.Join(b.Spec.Dir, "clients", "carol")
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if _, err := b.Loam(cctx, b.Clients[0].Host, r.cliDir, "init", "--name", "carol", "--network", b.NetFile); err != nil {
		return err
	}
	if _, err := b.Loam(cctx, b.Clients[0].Host, r.cliDir, "status"); err != nil {
		return err
	}
	wg.Wait()
	r.log("%d people on %d client hosts, %d friends each, first sync done at %.1fs", len(people), len(b.Clients), b.Spec.Friends, time.Since(start).Seconds())
	return nil
}

func (r *runner) describe() string {
	s := r.b.Spec
	p := s.Params
	return fmt.Sprintf("Bed: %d authorities, %d gateways, %d mixes in each of 3 layers, %d mailbox replicas, %d people in %d client namespaces (%d friends each), every node and client in its own network namespace on %s. "+
		"Epochs %s, mean mixing delay %s, λP %.0f/s, λL %.0f/s, λD %.0f/s, λM %.0f/s (%.0f× the defaults). "+
		"Each scenario: people post every %s on average (every %d-th with a %d KiB photo) for %s or until the fault heals, syncing all the while.",
		s.Authorities, s.Gateways, s.MixesPerLayer, s.Replicas, s.ClientHosts*s.UsersPerHost, s.ClientHosts, s.Friends, s.Subnet,
		p.EpochPeriod, p.Mu, p.LambdaP, p.LambdaL, p.LambdaD, p.LambdaM, p.LambdaP/2,
		r.load.PostEvery, r.load.AttachEvery, r.load.AttachBytes>>10, r.load.Window)
}

// runScenario runs one scenario's traffic and fault and returns its row.
func (r *runner) runScenario(ctx context.Context, s scenario) (Row, error) {
	r.log("scenario %s: %s (at %s)", s.id, s.fault, time.Since(r.start).Round(time.Second))
	load := r.load
	if s.load != nil {
		load = s.load(load)
	}
	if s.id != "rollover" {
		if err := r.freshMailboxes(ctx); err != nil {
			return Row{}, err
		}
	}
	dropsBefore := r.dropCounts(ctx)
	var note string
	err := r.traffic(ctx, s.id, load, func(ctx context.Context) error {
		n, err := s.act(ctx, r, load)
		note = n
		return err
	})
	if ctx.Err() != nil {
		return Row{}, ctx.Err()
	}
	row := r.ledger.Row(s.id, s.fault)
	row.Note = note
	row.Drops = dropDelta(dropsBefore, r.dropCounts(ctx))
	row.SyncTime, row.SyncPackets, _ = r.syncs.mean(s.id)
	var errs []string
	if err != nil {
		errs = append(errs, err.Error())
	}
	// The bed must be whole again before the next scenario.
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if werr := r.b.WaitReady(rctx); werr != nil {
		errs = append(errs, "not ready afterwards: "+werr.Error())
	}
	row.Err = strings.Join(errs, "; ")
	return row, nil
}

func rowLine(row Row) string {
	return fmt.Sprintf("  %s: posted %d, acked %d, intact %d, lost %d, duplicated %d, p50 %s, p99 %s: %s%s; drops: %s; a sync took %s and %.0f packets on average",
		row.Fault, row.Posted, row.Acked, row.Intact, row.Lost, row.Duplicated, fmtDur(row.P50), fmtDur(row.P99),
		verdict(row.Pass()), noteOf(row.Note, row.Err), fmtDrops(row.Drops), fmtDur(row.SyncTime), row.SyncPackets)
}

// freshMailboxes moves every feed's clock two mailbox epochs ahead, so
// that a scenario starts with empty pairwise mailboxes: a reader's sync
// fetches every sequence number a mailbox ever used, deleted or not
// (mailbox.Receiver), so its cost grows with the posts of the mailbox's
// epoch, and a bed posting for minutes in one 6-hour epoch would measure
// that rather than the fault. The epoch before the jump is read once more
// by the first sync after it (it is within MaxSkew), then never again.
// Nothing is in flight: the previous scenario's posts all returned.
func (r *runner) freshMailboxes(ctx context.Context) error {
	offset := r.clockOffset + 2*r.b.Spec.MailboxEpoch
	for _, c := range r.b.Clients {
		if err := c.SetClock(ctx, offset); err != nil {
			return err
		}
	}
	r.clockOffset = offset
	return nil
}

// dropCounts reads every running node's drop counters, by node and
// reason.
func (r *runner) dropCounts(ctx context.Context) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	for _, n := range r.b.MixNodes() {
		if !r.b.Alive(n.Name) {
			continue
		}
		m, err := r.b.Scrape(ctx, n.Name)
		if err != nil {
			continue
		}
		by := map[string]float64{}
		for _, s := range m {
			if s.Name == "loam_drops_total" {
				by[s.Labels["reason"]] += s.Value
			}
		}
		out[n.Name] = by
	}
	return out
}

// dropDelta sums what the nodes dropped between two reads, by reason; a
// node restarted meanwhile counts from zero.
func dropDelta(before, after map[string]map[string]float64) map[string]int {
	out := map[string]int{}
	for node, by := range after {
		for reason, v := range by {
			b := before[node][reason]
			if v < b {
				b = 0
			}
			if d := int(v - b); d > 0 {
				out[reason] += d
			}
		}
	}
	return out
}

// goroutines reads go_goroutines of every running node.
func (r *runner) goroutines(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	for _, n := range r.b.MixNodes() {
		m, err := r.b.Scrape(ctx, n.Name)
		if err != nil {
			return nil, err
		}
		out[n.Name] = int(m.Sum("go_goroutines"))
	}
	return out, nil
}

// settledGoroutines reads the goroutine counts once the traffic of the
// last scenario has died down: the lowest of a few reads an epoch apart,
// so that a burst of handshakes or timers at one instant is not taken
// for a leak.
func (r *runner) settledGoroutines(ctx context.Context) (map[string]int, error) {
	best := map[string]int{}
	for i := range 2 {
		if i > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(r.b.Spec.Params.EpochPeriod):
			}
		}
		g, err := r.goroutines(ctx)
		if err != nil {
			return nil, err
		}
		for k, v := range g {
			if old, ok := best[k]; !ok || v < old {
				best[k] = v
			}
		}
	}
	return best, nil
}

// machine describes this machine: kernel, CPU and memory.
func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.0f GiB", float64(kb)/(1<<20))
		}
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(b))
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s, %d cores%s%s, %s, host %s", cpu, runtime.NumCPU(), mem, kernel, runtime.Version(), host)
}

// setFaults gives nodes fault rules through their control files and waits
// until each reports the new version in force.
func (r *runner) setFaults(ctx context.Context, rules map[*Node][]nodeconfig.FaultRule) error {
	r.faultVersion++
	v := r.faultVersion
	for n, rs := range rules {
		c := &nodeconfig.FaultControl{Version: v, Rules: rs}
		if err := os.WriteFile(n.Control, nodeconfig.EncodeFaultControl(c), 0o600); err != nil {
			return fmt.Errorf("testbed: %w", err)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for n := range rules {
		for {
			m, err := r.b.Scrape(ctx, n.Name)
			if err == nil && int64(m.Sum("loam_faults_version")) == v {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("testbed: %s did not take fault rules version %d", n.Name, v)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// clearFaults lifts every rule of the nodes.
func (r *runner) clearFaults(ctx context.Context, nodes ...*Node) error {
	rules := map[*Node][]nodeconfig.FaultRule{}
	for _, n := range nodes {
		rules[n] = nil
	}
	return r.setFaults(ctx, rules)
}

// sum adds a metric over nodes.
func (r *runner) sum(ctx context.Context, nodes []*Node, name string, labels ...string) (float64, error) {
	total := 0.0
	for _, n := range nodes {
		m, err := r.b.Scrape(ctx, n.Name)
		if err != nil {
			return 0, err
		}
		total += m.Sum(name, labels...)
	}
	return total, nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

var errNotStale = errors.New("no client said it runs on a stale directory")
