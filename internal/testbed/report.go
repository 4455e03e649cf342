package testbed

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Report is what a run of the bed found.
type Report struct {
	Mode     string // "short" or "long"
	Date     time.Time
	Machine  string
	Took     time.Duration
	Setup    string // the bed: nodes, people, parameters
	Rows     []Row
	Security []SecRow
	// PeakRSS is the largest resident set of each process, by node name
	// (clients: "client-N").
	PeakRSS map[string]int64
	// Goroutines of each node before the scenarios and after them.
	Goroutines []GoroutineRow
}

// SecRow is one security check.
type SecRow struct {
	Check string
	// Tries counts the attacks made; Refused those the bed refused,
	// dropped or survived as it should.
	Tries, Refused int
	Note           string
	Err            string
}

// Pass reports whether every attack was refused and nothing else failed.
func (s SecRow) Pass() bool { return s.Tries > 0 && s.Refused == s.Tries && s.Err == "" }

// GoroutineRow is one node's goroutine count before and after.
type GoroutineRow struct {
	Node          string
	Before, After int
}

// Leaked reports whether the count grew past what a link or handshake in
// progress explains: by more than a tenth and 5 goroutines. (The bed's
// own HTTP requests keep no connection alive, so they hold none.)
func (g GoroutineRow) Leaked() bool { return g.After > g.Before+g.Before/10+5 }

// Pass reports whether every row and check passed and no node leaked.
func (r *Report) Pass() bool {
	for _, row := range r.Rows {
		if !row.Pass() {
			return false
		}
	}
	for _, s := range r.Security {
		if !s.Pass() {
			return false
		}
	}
	for _, g := range r.Goroutines {
		if g.Leaked() {
			return false
		}
	}
	return len(r.Rows) > 0
}

// Failures lists what did not pass, one line each.
func (r *Report) Failures() []string {
	var out []string
	for _, row := range r.Rows {
		if !row.Pass() {
			out = append(out, fmt.Sprintf("%s: %d acknowledged, %d lost, %d duplicated %s", row.Fault, row.Acked, row.Lost, row.Duplicated, row.Err))
		}
	}
	for _, s := range r.Security {
		if !s.Pass() {
			out = append(out, fmt.Sprintf("%s: %d of %d refused %s", s.Check, s.Refused, s.Tries, s.Err))
		}
	}
	for _, g := range r.Goroutines {
		if g.Leaked() {
			out = append(out, fmt.Sprintf("%s: goroutines %d before, %d after", g.Node, g.Before, g.After))
		}
	}
	return out
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// fmtDur writes a latency to the tenth of a second.
func fmtDur(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// fmtDrops writes drop counts by reason, largest first.
func fmtDrops(d map[string]int) string {
	if len(d) == 0 {
		return "none"
	}
	reasons := slices.SortedFunc(maps.Keys(d), func(a, b string) int {
		if d[a] != d[b] {
			return d[b] - d[a]
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, r := range reasons {
		parts = append(parts, fmt.Sprintf("%s %d", r, d[r]))
	}
	return strings.Join(parts, ", ")
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// roleOf is a process name's role: the name without its index.
func roleOf(name string) string {
	switch {
	case strings.HasPrefix(name, "authority-"):
		return "authority"
	case strings.HasPrefix(name, "gateway-"):
		return "gateway"
	case strings.HasPrefix(name, "mix-"):
		return "mix"
	case strings.HasPrefix(name, "replica-"):
		return "replica"
	case strings.HasPrefix(name, "client-"):
		return "client (tbclient)"
	}
	return name
}

// RoleRSS is the largest peak resident set among a role's processes.
type RoleRSS struct {
	Role, Node string
	Peak       int64
}

// RSSByRole is the largest peak resident set of each role, and the process
// that had it.
func (r *Report) RSSByRole() []RoleRSS {
	best := map[string]RoleRSS{}
	for name, v := range r.PeakRSS {
		role := roleOf(name)
		if b, ok := best[role]; !ok || v > b.Peak || v == b.Peak && name < b.Node {
			best[role] = RoleRSS{role, name, v}
		}
	}
	var out []RoleRSS
	for _, role := range []string{"authority", "gateway", "mix", "replica", "client (tbclient)"} {
		if b, ok := best[role]; ok {
			out = append(out, b)
		}
	}
	return out
}

// Text is the report for a terminal: the table of scenarios, then the
// security checks, memory and goroutines.
func (r *Report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Loam test bed, %s run, %s, %s (took %s)\n%s\n\n", r.Mode, r.Date.Format("2006-01-02 15:04 MST"), r.Machine, r.Took.Round(time.Second), r.Setup)
	w := []int{46, 6, 6, 6, 4, 4, 6, 6}
	head := []string{"fault", "posted", "acked", "intact", "lost", "dup", "p50", "p99"}
	line := func(cells []string, extra string) {
		for i, c := range cells {
			if i == 0 {
				fmt.Fprintf(&b, "%-*s", w[i], c)
			} else {
				fmt.Fprintf(&b, " %*s", w[i], c)
			}
		}
		fmt.Fprintf(&b, "  %s\n", extra)
	}
	line(head, "result")
	for _, row := range r.Rows {
		line(row.cells(), verdict(row.Pass())+noteOf(row.Note, row.Err))
	}
	if len(r.Security) > 0 {
		fmt.Fprintf(&b, "\n%-46s %6s %7s  %s\n", "security check", "tries", "refused", "result")
		for _, s := range r.Security {
			fmt.Fprintf(&b, "%-46s %6d %7d  %s%s\n", s.Check, s.Tries, s.Refused, verdict(s.Pass()), noteOf(s.Note, s.Err))
		}
	}
	if len(r.PeakRSS) > 0 {
		fmt.Fprintf(&b, "\npeak RSS by role:")
		for _, x := range r.RSSByRole() {
			fmt.Fprintf(&b, "  %s %s (%s);", x.Role, mib(x.Peak), x.Node)
		}
		b.WriteString("\n")
	}
	if len(r.Goroutines) > 0 {
		b.WriteString("goroutines before → after:")
		for _, g := range r.Goroutines {
			mark := ""
			if g.Leaked() {
				mark = " LEAK"
			}
			fmt.Fprintf(&b, "  %s %d→%d%s;", g.Node, g.Before, g.After, mark)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\n%s\n", verdict(r.Pass()))
	return b.String()
}

func (row Row) cells() []string {
	return []string{row.Fault, fmt.Sprint(row.Posted), fmt.Sprint(row.Acked), fmt.Sprint(row.Intact),
		fmt.Sprint(row.Lost), fmt.Sprint(row.Duplicated), fmtDur(row.P50), fmtDur(row.P99)}
}

func noteOf(note, err string) string {
	var parts []string
	if err != "" {
		parts = append(parts, err)
	}
	if note != "" {
		parts = append(parts, note)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// mdEscape keeps a cell's text from breaking a Markdown table.
func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// Markdown is the report as a section of docs/reliability.md.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s run, %s\n\n", r.Mode, r.Date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Machine: %s. Took %s. %s\n\n", r.Machine, r.Took.Round(time.Second), r.Setup)
	b.WriteString("| fault | posted | acked | read back intact | lost | duplicated | p50 post→read | p99 post→read | result |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, row := range r.Rows {
		c := row.cells()
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s%s |\n", mdEscape(c[0]), c[1], c[2], c[3], c[4], c[5], c[6], c[7],
			verdict(row.Pass()), mdEscape(noteOf(row.Note, row.Err)))
	}
	if len(r.Security) > 0 {
		b.WriteString("\n| security check | tries | refused | result |\n|---|---:|---:|---|\n")
		for _, s := range r.Security {
			fmt.Fprintf(&b, "| %s | %d | %d | %s%s |\n", mdEscape(s.Check), s.Tries, s.Refused, verdict(s.Pass()), mdEscape(noteOf(s.Note, s.Err)))
		}
	}
	if len(r.PeakRSS) > 0 {
		b.WriteString("\n| role | peak RSS | node |\n|---|---:|---|\n")
		for _, x := range r.RSSByRole() {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", x.Role, mib(x.Peak), x.Node)
		}
		names := slices.Sorted(maps.Keys(r.PeakRSS))
		var all []string
		for _, n := range names {
			all = append(all, fmt.Sprintf("%s %s", n, mib(r.PeakRSS[n])))
		}
		fmt.Fprintf(&b, "\nEvery process: %s.\n", strings.Join(all, ", "))
	}
	if len(r.Goroutines) > 0 {
		var parts []string
		leaks := 0
		for _, g := range r.Goroutines {
			parts = append(parts, fmt.Sprintf("%s %d→%d", g.Node, g.Before, g.After))
			if g.Leaked() {
				leaks++
			}
		}
		fmt.Fprintf(&b, "\nGoroutines before the first scenario → after the last (clients idle): %s. Leaks: %d.\n", strings.Join(parts, ", "), leaks)
	}
	fmt.Fprintf(&b, "\nResult: **%s**.\n", verdict(r.Pass()))
	return b.String()
}
