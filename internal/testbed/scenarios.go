//go:build linux

package testbed

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"loam/cmd/loam-node/nodeconfig"
	"loam/internal/localnet"
	"loam/mixnet/directory"
)

// scenario is one fault, run while people post and sync.
type scenario struct {
	id    string // for -only
	fault string // the table's first column
	// act injects the fault once the traffic runs and heals it; it returns
	// what it saw worth noting.
	act func(ctx context.Context, r *runner, load Load) (note string, err error)
	// load, if set, changes the scenario's traffic.
	load func(Load) Load
}

func (r *runner) scenarios() []scenario {
	return []scenario{
		{id: "baseline", fault: "none (baseline)", act: func(ctx context.Context, r *runner, load Load) (string, error) {
			return "", sleep(ctx, load.Window)
		}},
		{id: "loss", fault: "10% packet loss: gateway-0, mix-2a, replica-1 → all next hops", act: actLoss},
		{id: "delay", fault: "link delay 150 ms + 0–100 ms jitter: gateway-1, mix-1a, mix-3b → all next hops", act: actDelay},
		{id: "reorder", fault: "reordering: mix-2b and mix-3a hold 30% of packets up to 300 ms longer", act: actReorder},
		{id: "kill-mix", fault: "SIGKILL mix-2a, restart after a pause", act: actKill("mix-2a")},
		{id: "kill-gateway", fault: "SIGKILL gateway-1 (half the people's gateway), restart", act: actKill("gateway-1")},
		{id: "kill-replica", fault: "SIGKILL replica-1, restart", act: actKill("replica-1")},
		{id: "partition", fault: "replica-2 cut off the network, then back", act: actPartition("replica-2")},
		{id: "authority-down", fault: "authority-2 down for an epoch (2 of 3 still sign)", act: actAuthorityDown},
		{id: "authorities-down", fault: "authorities 1 and 2 down (1 of 3: no new document)", act: actAuthoritiesDown},
		{id: "forged-directory", fault: "forged directory documents served to every node and client", act: actForged},
		{id: "garbage", fault: "garbage sent to every port of every node", act: actGarbage},
		{id: "load", fault: "load: every person posting twice as often, bigger photos", act: actLoad,
			load: func(l Load) Load {
				l.PostEvery /= 2
				l.AttachEvery, l.AttachBytes = 3, l.AttachBytes*2
				l.Window *= 2
				if r.o.Long {
					l.Window = 150 * time.Second
				}
				return l
			}},
		{id: "rollover", fault: "mailbox and directory epochs roll over together under load", act: actRollover,
			load: func(l Load) Load { l.PostEvery = l.PostEvery * 2 / 3; return l }},
	}
}

// leadIn is how long traffic runs before a fault: a quarter of the window.
func leadIn(load Load) time.Duration { return load.Window / 4 }

// hold is how long a fault lasts: half the window, at least an epoch.
func (r *runner) hold(load Load) time.Duration {
	return max(load.Window/2, r.b.Spec.Params.EpochPeriod)
}

func nodesNamed(b *Bed, names ...string) []*Node {
	var out []*Node
	for _, name := range names {
		out = append(out, b.Node(name))
	}
	return out
}

func actLoss(ctx context.Context, r *runner, load Load) (string, error) {
	nodes := nodesNamed(r.b, "gateway-0", "mix-2a", "replica-1")
	if err := sleep(ctx, leadIn(load)); err != nil {
		return "", err
	}
	before, err := r.sum(ctx, nodes, "loam_drops_total", "reason", "injected")
	if err != nil {
		return "", err
	}
	rules := map[*Node][]nodeconfig.FaultRule{}
	for _, n := range nodes {
		rules[n] = []nodeconfig.FaultRule{{Loss: 0.1}}
	}
	if err := r.setFaults(ctx, rules); err != nil {
		return "", err
	}
	herr := sleep(ctx, r.hold(load))
	after, err := r.sum(ctx, nodes, "loam_drops_total", "reason", "injected")
	if err := r.clearFaults(ctx, nodes...); err != nil {
		return "", err
	}
	if herr != nil || err != nil {
		return "", firstErr(herr, err)
	}
	return fmt.Sprintf("%.0f packets dropped on purpose", after-before), nil
}

func actDelay(ctx context.Context, r *runner, load Load) (string, error) {
	nodes := nodesNamed(r.b, "gateway-1", "mix-1a", "mix-3b")
	if err := sleep(ctx, leadIn(load)); err != nil {
		return "", err
	}
	before, err := r.sum(ctx, nodes, "loam_faults_delayed_writes_total")
	if err != nil {
		return "", err
	}
	rules := map[*Node][]nodeconfig.FaultRule{}
	for _, n := range nodes {
		rules[n] = []nodeconfig.FaultRule{{Delay: 150 * time.Millisecond, Jitter: 100 * time.Millisecond}}
	}
	if err := r.setFaults(ctx, rules); err != nil {
		return "", err
	}
	herr := sleep(ctx, r.hold(load))
	after, err := r.sum(ctx, nodes, "loam_faults_delayed_writes_total")
	if err := r.clearFaults(ctx, nodes...); err != nil {
		return "", err
	}
	if herr != nil || err != nil {
		return "", firstErr(herr, err)
	}
	return fmt.Sprintf("%.0f link writes delayed", after-before), nil
}

// actReorder has two mixes hold some packets back past their mixing
// delay, so that packets relayed after them overtake them on the link.
func actReorder(ctx context.Context, r *runner, load Load) (string, error) {
	nodes := nodesNamed(r.b, "mix-2b", "mix-3a")
	if err := sleep(ctx, leadIn(load)); err != nil {
		return "", err
	}
	before, err := r.sum(ctx, nodes, "loam_faults_reordered_total")
	if err != nil {
		return "", err
	}
	rules := map[*Node][]nodeconfig.FaultRule{}
	for _, n := range nodes {
		rules[n] = []nodeconfig.FaultRule{{Reorder: 0.3, Hold: 300 * time.Millisecond}}
	}
	if err := r.setFaults(ctx, rules); err != nil {
		return "", err
	}
	herr := sleep(ctx, r.hold(load))
	after, err := r.sum(ctx, nodes, "loam_faults_reordered_total")
	if err := r.clearFaults(ctx, nodes...); err != nil {
		return "", err
	}
	if herr != nil || err != nil {
		return "", firstErr(herr, err)
	}
	if after == before {
		return "", fmt.Errorf("no packet was held back for reordering")
	}
	return fmt.Sprintf("%.0f packets held back for later ones to overtake", after-before), nil
}

// actKill kills a node with SIGKILL while traffic flows and restarts it
// after a pause of a fifth of the window (at least 2 s).
func actKill(name string) func(ctx context.Context, r *runner, load Load) (string, error) {
	return func(ctx context.Context, r *runner, load Load) (string, error) {
		if err := sleep(ctx, leadIn(load)); err != nil {
			return "", err
		}
		if err := r.b.Kill(name); err != nil {
			return "", err
		}
		down := max(load.Window/5, 2*time.Second)
		if err := sleep(ctx, down); err != nil {
			return "", err
		}
		start := time.Now()
		if err := r.b.Restart(ctx, name); err != nil {
			return "", err
		}
		if err := r.waitNodeReady(ctx, name); err != nil {
			return "", err
		}
		return fmt.Sprintf("down %.0fs; ready %.1fs after restart", down.Seconds(), time.Since(start).Seconds()), nil
	}
}

// waitNodeReady waits until a node answers 200 on /readyz.
func (r *runner) waitNodeReady(ctx context.Context, name string) error {
	n := r.b.Node(name)
	client := r.b.Ctl.HTTPClient(2 * time.Second)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := localnet.Get(ctx, client, "http://"+n.Metrics+"/readyz"); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready 2 minutes after its restart", name)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

func actPartition(name string) func(ctx context.Context, r *runner, load Load) (string, error) {
	return func(ctx context.Context, r *runner, load Load) (string, error) {
		h := r.b.Node(name).Host
		if err := sleep(ctx, leadIn(load)); err != nil {
			return "", err
		}
		if err := h.SetConnected(ctx, false); err != nil {
			return "", err
		}
		herr := sleep(ctx, r.hold(load))
		if err := h.SetConnected(context.Background(), true); err != nil {
			return "", err
		}
		if herr != nil {
			return "", herr
		}
		return fmt.Sprintf("cut off for %.0fs", r.hold(load).Seconds()), nil
	}
}

// actRollover moves the feeds' clocks so that the current mailbox epoch
// ends exactly when a directory epoch does, a few seconds into the
// traffic: both roll over together while people post.
func actRollover(ctx context.Context, r *runner, load Load) (string, error) {
	period := r.b.Spec.Params.EpochPeriod
	sched := directory.Schedule{Period: period}
	// The directory boundary at least a third of the window away.
	at := sched.Start(sched.Epoch(time.Now().Add(load.Window/3)) + 1)
	mbox := r.b.Spec.MailboxEpoch
	// The feeds' clocks run offset ahead; the mailbox boundary after
	// their now, moved to land at `at`.
	feedNow := time.Now().Add(r.clockOffset)
	boundary := feedNow.Truncate(mbox).Add(mbox)
	offset := boundary.Sub(at)
	if offset < r.clockOffset {
		offset += mbox // never move a clock back
	}
	for _, c := range r.b.Clients {
		if err := c.SetClock(ctx, offset); err != nil {
			return "", err
		}
	}
	r.clockOffset = offset
	if err := sleep(ctx, time.Until(at)+load.Window/3); err != nil {
		return "", err
	}
	return fmt.Sprintf("mailbox epoch %d→%d and directory epoch %d→%d at %s",
		boundary.Unix()/int64(mbox/time.Second)-1, boundary.Unix()/int64(mbox/time.Second),
		sched.Epoch(at)-1, sched.Epoch(at), at.Format("15:04:05")), nil
}

func actAuthorityDown(ctx context.Context, r *runner, load Load) (string, error) {
	if err := sleep(ctx, leadIn(load)); err != nil {
		return "", err
	}
	period := r.b.Spec.Params.EpochPeriod
	if err := r.b.Kill("authority-2"); err != nil {
		return "", err
	}
	sched := directory.Schedule{Period: period}
	first := sched.Epoch(time.Now()) + 1
	// Down until an epoch has begun without it, and half of that epoch.
	if err := sleep(ctx, max(time.Until(sched.Start(first))+period/2, r.hold(load))); err != nil {
		return "", err
	}
	last := sched.Epoch(time.Now())
	// The epochs begun while it was down have documents that the two
	// others signed.
	signed, err := r.signers(ctx, "authority-0", last)
	if err != nil {
		return "", err
	}
	if err := r.b.Restart(ctx, "authority-2"); err != nil {
		return "", err
	}
	if signed < r.b.threshold() {
		return "", fmt.Errorf("the document of epoch %d has %d signatures", last, signed)
	}
	return fmt.Sprintf("epochs %d–%d made without it (%d signatures)", first, last, signed), nil
}

// signers counts the valid signatures on an authority's document of epoch.
func (r *runner) signers(ctx context.Context, authority string, epoch uint64) (int, error) {
	a := r.b.Node(authority)
	body, err := localnet.Get(ctx, r.b.Ctl.HTTPClient(5*time.Second), fmt.Sprintf("http://%s/v1/documents/%d", a.Listen, epoch))
	if err != nil {
		return 0, fmt.Errorf("%s: document of epoch %d: %w", authority, epoch, err)
	}
	doc, err := directory.ParseDocument(body)
	if err != nil {
		return 0, err
	}
	count := 0
	for _, p := range r.b.Peers {
		if doc.Verify([]ed25519.PublicKey{p.Key}, 1) == nil {
			count++
		}
	}
	return count, nil
}

// actAuthoritiesDown takes two of three authorities down: no document
// can be signed for new epochs. Clients keep the last good one and must
// say so; once the authorities are back, everything acknowledged must
// still be read.
func actAuthoritiesDown(ctx context.Context, r *runner, load Load) (string, error) {
	if err := sleep(ctx, leadIn(load)); err != nil {
		return "", err
	}
	for _, a := range []string{"authority-1", "authority-2"} {
		if err := r.b.Kill(a); err != nil {
			return "", err
		}
	}
	period := r.b.Spec.Params.EpochPeriod
	down := time.Now()
	stale, staleSeen := 0, time.Duration(0)
	people := r.b.People()
	// Wait for the clients to run out of documents: they hold the next
	// epoch's, so they go stale at the start of the one after.
	deadline := time.Now().Add(4 * period)
	var sample string
	for time.Now().Before(deadline) && stale == 0 {
		if err := sleep(ctx, period/4); err != nil {
			return "", err
		}
		stale, sample = r.countStale(ctx, people)
		staleSeen = time.Since(down)
	}
	// The loam command says so too.
	cli, cliErr := r.cliStatus(ctx)
	// Keep them down a while longer as people keep posting.
	herr := sleep(ctx, period/2)
	if stale > 0 {
		if more, s := r.countStale(ctx, people); more > stale {
			stale, sample = more, s
		}
	}
	var errs []error
	for _, a := range []string{"authority-1", "authority-2"} {
		errs = append(errs, r.b.Restart(context.Background(), a))
	}
	if err := firstErr(append(errs, herr)...); err != nil {
		return "", err
	}
	if stale == 0 {
		return "", errNotStale
	}
	if cliErr != nil {
		return "", cliErr
	}
	return fmt.Sprintf("%d of %d clients said they run on the last good directory within %.0fs, e.g. %q; `loam status --json`: %q",
		stale, len(people), staleSeen.Seconds(), sample, cli), nil
}

// cliStatus runs `loam status --json` for the CLI's person and returns
// what it says of the directory, which must be that it is a cached one.
func (r *runner) cliStatus(ctx context.Context) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := r.b.Loam(cctx, r.b.Clients[0].Host, r.cliDir, "status")
	if err != nil {
		return "", fmt.Errorf("loam status with the authorities down: %w", err)
	}
	var st struct {
		Connected bool   `json:"connected"`
		Directory string `json:"directory"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return "", fmt.Errorf("loam status --json: %w: %s", err, out)
	}
	if !strings.Contains(st.Directory, "cached directory") || !st.Connected {
		return "", fmt.Errorf("loam status with the authorities down says connected %v, directory %q", st.Connected, st.Directory)
	}
	short := st.Directory
	if i := strings.Index(short, ":"); i > 0 {
		short = short[:i]
	}
	return short, nil
}

// countStale asks every person's client whether its directory is stale.
func (r *runner) countStale(ctx context.Context, people []Person) (int, string) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	n, sample := 0, ""
	for _, p := range people {
		wg.Go(func() {
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			st, _, err := p.Status(sctx)
			if err != nil || st.Stale == "" {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			n++
			if sample == "" {
				sample = st.Stale
				if len(sample) > 90 {
					sample = sample[:90] + "…"
				}
			}
		})
	}
	wg.Wait()
	return n, sample
}

// actLoad runs heavier traffic with no fault and checks that no node's
// goroutines grew across it.
func actLoad(ctx context.Context, r *runner, load Load) (string, error) {
	before, err := r.goroutines(ctx)
	if err != nil {
		return "", err
	}
	start := time.Now()
	traffic := map[string]uint64{}
	if err := sleep(ctx, load.Window); err != nil {
		return "", err
	}
	for _, p := range r.b.People() {
		if _, t, err := p.Status(ctx); err == nil && t != nil {
			traffic["real"] += t.Real
			traffic["cover"] += t.Drop + t.Loop
		}
	}
	after, err := r.goroutines(ctx)
	if err != nil {
		return "", err
	}
	total := func(m map[string]int) int {
		s := 0
		for _, v := range m {
			s += v
		}
		return s
	}
	return fmt.Sprintf("%.0fs; node goroutines %d at the start, %d at the end; clients sent %d real and %d cover packets so far",
		time.Since(start).Seconds(), total(before), total(after), traffic["real"], traffic["cover"]), nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// actForged has the directory proxy serve forgeries for three epochs, so
// that every node and client meets some, then checks that none believed
// one: nothing dialled the rogue nodes' addresses.
func actForged(ctx context.Context, r *runner, load Load) (string, error) {
	f, err := newForger(r.b.Authorities()[0].Identity, len(r.b.Authorities()), r.b.Trap.Addr)
	if err != nil {
		return "", err
	}
	r.b.proxy.StartForging(f)
	// Two epochs: every node fetches the next epoch's document in each.
	herr := sleep(ctx, max(2*r.b.Spec.Params.EpochPeriod+time.Second, load.Window))
	served, hosts := r.b.proxy.StopForging()
	if herr != nil {
		return "", herr
	}
	hits := r.b.trap.Hits()
	row := SecRow{Check: "forged directory documents (altered, one signature, unknown signers, garbled)"}
	var kinds []string
	for _, v := range forgeryVariants {
		row.Tries += served[v]
		kinds = append(kinds, fmt.Sprintf("%d %s", served[v], v))
	}
	dialled := 0
	var who []string
	for host, n := range hits {
		dialled += n
		who = append(who, host)
	}
	row.Refused = row.Tries
	if dialled > 0 {
		row.Refused = max(0, row.Tries-len(hits))
		row.Err = fmt.Sprintf("%d connections to the rogue nodes from %s", dialled, strings.Join(who, ", "))
	}
	// Which of the bed's hosts met a forgery.
	want := map[string]string{}
	for _, n := range r.b.MixNodes() {
		want[n.Host.Addr.String()] = n.Name
	}
	for _, c := range r.b.Clients {
		want[c.Host.Addr.String()] = c.Name
	}
	met := 0
	for _, h := range hosts {
		if _, ok := want[h]; ok {
			met++
		}
	}
	row.Note = fmt.Sprintf("%s served to %d of the %d node and client hosts; the honeypot behind the rogue nodes saw %d connections", strings.Join(kinds, ", "), met, len(want), dialled)
	r.addSecurity(row)
	return fmt.Sprintf("%d forgeries served to %d of %d hosts, none believed", row.Tries, met, len(want)), nil
}

// actGarbage sends junk to every port of every node while people post,
// then checks that every node still runs (the traffic's row checks that
// they still serve).
func actGarbage(ctx context.Context, r *runner, load Load) (string, error) {
	if err := sleep(ctx, leadIn(load)); err != nil {
		return "", err
	}
	made, err := r.garbage(ctx)
	if err != nil {
		return "", err
	}
	row := SecRow{Check: "garbage to every port of every node"}
	var dead []string
	for _, n := range r.b.Nodes {
		row.Tries += made[n.Name]
		if r.b.Alive(n.Name) {
			row.Refused += made[n.Name]
		} else {
			dead = append(dead, n.Name)
		}
	}
	row.Note = fmt.Sprintf("%d connections to the link or API port and the metrics port of %d processes: junk of 1 B to 1 MiB, a bad HTTP request, a silent connection; every process still serving", row.Tries, len(r.b.Nodes))
	if len(dead) > 0 {
		row.Err = "died: " + strings.Join(dead, ", ")
	}
	r.addSecurity(row)
	return fmt.Sprintf("%d junk connections", row.Tries), sleep(ctx, load.Window/2)
}
