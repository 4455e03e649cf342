package testbed

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"loam/internal/testbed/tbproto"
)

// TestNSNames: names made for an owner parse back to it; names the bed
// did not make do not parse.
func TestNSNames(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		owner := rapid.IntRange(1, 1<<22).Draw(t, "owner")
		host := rapid.StringMatching(`[a-z][a-z0-9-]{0,31}`).Draw(t, "host")
		got, h, ok := parseNSName(nsName(owner, host))
		if !ok || got != owner || h != host {
			t.Fatalf("%q parsed to %d %q %v", nsName(owner, host), got, h, ok)
		}
	})
	for _, bad := range []string{"", "loamtb-", "loamtb-12", "loamtb-12-", "loamtb-x-mix", "loamtb-012-mix", "loamtb-0-mix",
		"loamtb--5-mix", "other-12-mix", "loamtb-12-Mix", "loamtb-12-mix_1", "loamtb-12-1mix", "cni-1234"} {
		if _, _, ok := parseNSName(bad); ok {
			t.Errorf("%q parsed as a bed namespace", bad)
		}
	}
}

// TestStaleNamespaces: the sweep picks exactly the bed's namespaces whose
// owner is dead, leaving live beds' and everyone else's alone.
func TestStaleNamespaces(t *testing.T) {
	names := []string{"loamtb-100-switch", "loamtb-100-mix-1a", "loamtb-200-gateway-0", "loamtb-300-ctl",
		"docker-abc", "loamtb-bogus", "loamtb-100", "cni-9f"}
	alive := func(pid int) bool { return pid == 200 }
	got := staleNamespaces(names, alive)
	want := []string{"loamtb-100-switch", "loamtb-100-mix-1a", "loamtb-300-ctl"}
	if !slices.Equal(got, want) {
		t.Fatalf("swept %v, want %v", got, want)
	}
	if got := staleNamespaces(names, func(int) bool { return true }); len(got) != 0 {
		t.Fatalf("swept %v of live owners", got)
	}
}

// TestAllocator: host addresses come in order from the subnet, never its
// network or broadcast address, until it runs out.
func TestAllocator(t *testing.T) {
	a, err := newAllocator(netip.MustParsePrefix("10.77.0.0/29"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		addr, err := a.take()
		if err != nil {
			break
		}
		got = append(got, addr.String())
	}
	want := []string{"10.77.0.1", "10.77.0.2", "10.77.0.3", "10.77.0.4", "10.77.0.5", "10.77.0.6"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	a, err = newAllocator(netip.MustParsePrefix("10.77.3.9/24")) // masked to 10.77.3.0/24
	if err != nil {
		t.Fatal(err)
	}
	if addr, _ := a.take(); addr.String() != "10.77.3.1" {
		t.Fatalf("first address %v", addr)
	}
	for _, bad := range []string{"fd00::/64", "10.0.0.0/31", "10.0.0.0/32", "0.0.0.0/0"} {
		if _, err := newAllocator(netip.MustParsePrefix(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// TestParseVmHWM reads the peak resident set from a /proc status file.
func TestParseVmHWM(t *testing.T) {
	status := "Name:\tloam-node\nVmPeak:\t 1234 kB\nVmHWM:\t   51200 kB\nVmRSS:\t 40000 kB\n"
	got, err := parseVmHWM(strings.NewReader(status))
	if err != nil || got != 51200<<10 {
		t.Fatalf("got %d, %v", got, err)
	}
	for _, bad := range []string{"Name: x\n", "VmHWM: lots kB\n", "VmHWM: 12 MB\n", ""} {
		if _, err := parseVmHWM(strings.NewReader(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func entry(id, author, text string, atts ...string) *tbproto.Entry {
	return &tbproto.Entry{ID: id, Author: author, Text: text, Attachments: atts}
}

// TestLedgerRow: acknowledged entries read by every friend are intact;
// one a friend never read is lost; one read twice is duplicated; a
// corrupted read does not count as reading it; unacknowledged entries
// count only as posted; reads before the post call returned count; the
// latency runs from the post's start to the first intact read.
func TestLedgerRow(t *testing.T) {
	l := NewLedger()
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	friends := []string{"bob", "carol"}

	l.Posted("s", "alice", entry("e1", "A", "one", "h1"), at(0), true, friends)
	l.Read("bob", *entry("e1", "A", "one", "h1"), at(2))
	l.Read("carol", *entry("e1", "A", "one", "h1"), at(4))

	// e2: carol never reads it intact (a corrupted copy does not count).
	l.Posted("s", "alice", entry("e2", "A", "two"), at(1), true, friends)
	l.Read("bob", *entry("e2", "A", "two"), at(3))
	l.Read("carol", *entry("e2", "A", "tw0"), at(3))

	// e3: bob is given it twice.
	l.Posted("s", "alice", entry("e3", "A", "three"), at(2), true, friends)
	l.Read("bob", *entry("e3", "A", "three"), at(5))
	l.Read("bob", *entry("e3", "A", "three"), at(6))
	l.Read("carol", *entry("e3", "A", "three"), at(5))

	// e4: read before the post call returned.
	l.Read("bob", *entry("e4", "A", "four"), at(3))
	l.Read("carol", *entry("e4", "A", "four"), at(3.5))
	l.Posted("s", "alice", entry("e4", "A", "four"), at(1), true, friends)

	// An unacknowledged post read anyway, one never read, one that made no
	// entry, and another scenario's post.
	l.Posted("s", "alice", entry("e5", "A", "five"), at(0), false, friends)
	l.Read("bob", *entry("e5", "A", "five"), at(9))
	l.Posted("s", "alice", entry("e6", "A", "six"), at(0), false, friends)
	l.Posted("s", "alice", nil, at(0), false, friends)
	l.Posted("other", "alice", entry("e7", "A", "seven"), at(0), true, friends)

	if got := l.Outstanding("s"); got != 1 {
		t.Fatalf("outstanding %d, want 1 (e2 for carol)", got)
	}
	row := l.Row("s", "fault")
	want := Row{Fault: "fault", Posted: 7, Acked: 4, Intact: 3, Lost: 1, Duplicated: 1, LateUnacked: 1}
	if row.Posted != want.Posted || row.Acked != want.Acked || row.Intact != want.Intact || row.Lost != want.Lost ||
		row.Duplicated != want.Duplicated || row.LateUnacked != want.LateUnacked {
		t.Fatalf("row %+v, want %+v", row, want)
	}
	if row.Pass() {
		t.Fatal("a row with a loss passes")
	}
	if len(row.Missing) != 2 || !strings.Contains(row.Missing[0]+row.Missing[1], "never read intact by carol") {
		t.Fatalf("missing %q", row.Missing)
	}
	// Latencies: e1 2, 4; e2 (bob) 2; e3 3, 3; e4 2, 2.5 → sorted 2 2 2 2.5 3 3 4.
	if row.P50 != 2500*time.Millisecond || row.P99 != 4*time.Second {
		t.Fatalf("p50 %v, p99 %v", row.P50, row.P99)
	}
	if got := l.Strays(); got != 0 {
		t.Fatalf("strays %d", got)
	}
	l.Read("bob", *entry("nobody", "Z", "?"), at(1))
	l.Read("dave", *entry("e1", "A", "one", "h1"), at(1)) // not alice's friend
	if got := l.Strays(); got != 2 {
		t.Fatalf("strays %d, want 2", got)
	}
	if other := l.Row("other", "x"); other.Lost != 1 || other.Pass() {
		t.Fatalf("other scenario's row %+v", other)
	}
}

// TestPercentile is the nearest-rank percentile.
func TestPercentile(t *testing.T) {
	ds := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x))
		}
		return out
	}
	for _, tc := range []struct {
		in   []time.Duration
		p    int
		want time.Duration
	}{
		{nil, 50, 0}, {ds(7), 50, 7}, {ds(7), 99, 7}, {ds(3, 1, 2), 50, 2}, {ds(1, 2, 3, 4), 50, 2},
		{ds(1, 2, 3, 4), 99, 4}, {ds(5, 1, 4, 2, 3, 6, 7, 8, 9, 10), 90, 9},
	} {
		if got := percentile(tc.in, tc.p); got != tc.want {
			t.Errorf("percentile(%v, %d) = %v, want %v", tc.in, tc.p, got, tc.want)
		}
	}
}

func sampleReport() *Report {
	return &Report{Mode: "short", Date: time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC), Machine: "a machine", Took: 3 * time.Minute,
		Setup: "A bed.",
		Rows: []Row{
			{Fault: "none", Posted: 10, Acked: 10, Intact: 10, P50: 1500 * time.Millisecond, P99: 3 * time.Second},
			{Fault: "kill | pipe", Posted: 5, Acked: 4, Intact: 4, P50: time.Second, P99: 2 * time.Second, Note: "down 2s"},
		},
		Security:   []SecRow{{Check: "replay", Tries: 40, Refused: 40, Note: "20 and 20"}},
		PeakRSS:    map[string]int64{"mix-1a": 40 << 20, "mix-2b": 50 << 20, "replica-0": 100 << 20, "client-0": 80 << 20},
		Goroutines: []GoroutineRow{{Node: "mix-1a", Before: 40, After: 42}},
	}
}

// TestReportFormats: the terminal table and the Markdown section carry
// every row, verdict and figure, and a single failure fails the report.
func TestReportFormats(t *testing.T) {
	r := sampleReport()
	if !r.Pass() {
		t.Fatalf("sample fails: %v", r.Failures())
	}
	text, md := r.Text(), r.Markdown()
	for _, want := range []string{"none", "kill | pipe", "1.5s", "3.0s", "PASS (down 2s)", "replay", "mix 50 MiB (mix-2b)",
		"replica 100 MiB", "client (tbclient) 80 MiB", "mix-1a 40→42"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	for _, want := range []string{"| none | 10 | 10 | 10 | 0 | 0 | 1.5s | 3.0s | PASS |", `kill \| pipe`, "| mix | 50 MiB | mix-2b |",
		"Result: **PASS**", "2026-11-27 07:00 UTC", "a machine"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	for name, broken := range map[string]func(*Report){
		"lost":       func(r *Report) { r.Rows[0].Lost = 1 },
		"duplicated": func(r *Report) { r.Rows[1].Duplicated = 1 },
		"nothing":    func(r *Report) { r.Rows[0].Acked = 0 },
		"error":      func(r *Report) { r.Rows[0].Err = "not ready" },
		"security":   func(r *Report) { r.Security[0].Refused = 39 },
		"leak":       func(r *Report) { r.Goroutines[0].After = 200 },
		"no rows":    func(r *Report) { r.Rows = nil },
	} {
		b := sampleReport()
		broken(b)
		if b.Pass() {
			t.Errorf("%s: the report passes", name)
		}
		if name != "no rows" && len(b.Failures()) == 0 {
			t.Errorf("%s: no failure listed", name)
		}
		if !strings.Contains(b.Text(), "FAIL") || !strings.Contains(b.Markdown(), "**FAIL**") {
			t.Errorf("%s: the report does not say FAIL", name)
		}
	}
}

// TestReplaceSection: a run replaces its own section, keeps everything
// else, and adds the section when the document has none.
func TestReplaceSection(t *testing.T) {
	doc := "# Reliability\n\nprose\n"
	doc, err := replaceSection(doc, "short", "short 1\n")
	if err != nil {
		t.Fatal(err)
	}
	doc, err = replaceSection(doc, "long", "long 1\n")
	if err != nil {
		t.Fatal(err)
	}
	doc, err = replaceSection(doc, "short", "short 2\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "# Reliability\n\nprose\n\n<!-- testbed:short begin -->\nshort 2\n<!-- testbed:short end -->\n\n<!-- testbed:long begin -->\nlong 1\n<!-- testbed:long end -->\n"
	if doc != want {
		t.Fatalf("got\n%s\nwant\n%s", doc, want)
	}
	if _, err := replaceSection("<!-- testbed:long end -->\n<!-- testbed:long begin -->\n", "long", "x"); err == nil {
		t.Fatal("markers out of order accepted")
	}
}

// TestGoroutineLeak: growth within a tenth and 5 goroutines is churn;
// beyond it, a leak.
func TestGoroutineLeak(t *testing.T) {
	for _, tc := range []struct {
		before, after int
		leak          bool
	}{{40, 40, false}, {40, 35, false}, {40, 49, false}, {40, 50, true}, {111, 127, false}, {111, 128, true}} {
		if got := (GoroutineRow{Before: tc.before, After: tc.after}).Leaked(); got != tc.leak {
			t.Errorf("%d→%d: leak %v, want %v", tc.before, tc.after, got, tc.leak)
		}
	}
}

// TestRoleOf maps process names to roles.
func TestRoleOf(t *testing.T) {
	for name, want := range map[string]string{"authority-2": "authority", "gateway-0": "gateway", "mix-3b": "mix",
		"replica-1": "replica", "client-3": "client (tbclient)", "ctl": "ctl"} {
		if got := roleOf(name); got != want {
			t.Errorf("roleOf(%q) = %q, want %q", name, got, want)
		}
	}
}

// FuzzParseVmHWM: no status file makes the parser panic, and what it
// accepts is a whole number of KiB.
func FuzzParseVmHWM(f *testing.F) {
	f.Add("VmHWM:\t  51200 kB\n")
	f.Add("VmHWM: 9223372036854775807 kB\n")
	f.Add("VmHWM:\n")
	f.Add("\x00")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseVmHWM(strings.NewReader(s))
		if err == nil && v%1024 != 0 {
			t.Fatalf("accepted %d bytes", v)
		}
	})
}

// FuzzParseNSName: no name makes the parser panic, and every name it
// accepts is the one nsName makes of what it returns.
func FuzzParseNSName(f *testing.F) {
	f.Add("loamtb-4242-mix-1a")
	f.Add("loamtb-1-switch")
	f.Add("loamtb--")
	f.Fuzz(func(t *testing.T, s string) {
		owner, host, ok := parseNSName(s)
		if ok && nsName(owner, host) != s {
			t.Fatalf("%q parsed to %d %q", s, owner, host)
		}
	})
}
