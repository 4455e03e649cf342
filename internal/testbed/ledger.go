package testbed

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"loam/internal/testbed/tbproto"
)

// Ledger keeps account of every post and every read of a run: which
// entries were posted in which scenario, which were acknowledged (the
// post returned success: every fragment acknowledged by a replica), who
// should read each, and what each reader's syncs returned. A scenario's
// Row comes from it.
type Ledger struct {
	mu    sync.Mutex
	posts map[string]*postRecord // by entry id
	tried map[string]int         // post attempts by scenario, entry made or not
	// early are reads of entries not (yet) posted, by entry id: a friend's
	// sync can return an entry before its author's post call has.
	early map[string][]earlyRead
	// foreign counts reads by people the author did not post to.
	foreign int
}

type earlyRead struct {
	reader string
	entry  tbproto.Entry
	at     time.Time
}

type postRecord struct {
	scenario string
	author   string
	entry    tbproto.Entry
	start    time.Time
	acked    bool
	// readers are the people who should read the entry; reads what each
	// read, in order.
	readers map[string][]read
}

type read struct {
	at     time.Time
	intact bool
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger {
	return &Ledger{posts: map[string]*postRecord{}, tried: map[string]int{}, early: map[string][]earlyRead{}}
}

// Posted records author's post attempt of scenario that started at start.
// e is the entry it made (nil if none); acked says the post returned
// success; readers are the author's friends.
func (l *Ledger) Posted(scenario, author string, e *tbproto.Entry, start time.Time, acked bool, readers []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tried[scenario]++
	if e == nil {
		return
	}
	r := &postRecord{scenario: scenario, author: author, entry: *e, start: start, acked: acked, readers: map[string][]read{}}
	for _, name := range readers {
		r.readers[name] = nil
	}
	l.posts[e.ID] = r
	for _, er := range l.early[e.ID] {
		l.record(r, er.reader, er.entry, er.at)
	}
	delete(l.early, e.ID)
}

// Read records that reader's sync returned e at time at.
func (l *Ledger) Read(reader string, e tbproto.Entry, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.posts[e.ID]
	if r == nil {
		l.early[e.ID] = append(l.early[e.ID], earlyRead{reader, e, at})
		return
	}
	l.record(r, reader, e, at)
}

func (l *Ledger) record(r *postRecord, reader string, e tbproto.Entry, at time.Time) {
	if _, ok := r.readers[reader]; !ok {
		l.foreign++
		return
	}
	intact := e.Text == r.entry.Text && e.Author == r.entry.Author && slices.Equal(e.Attachments, r.entry.Attachments)
	r.readers[reader] = append(r.readers[reader], read{at: at, intact: intact})
}

// Outstanding counts the deliveries of acknowledged entries of scenario
// that have not been read intact yet: what a drain waits for.
func (l *Ledger) Outstanding(scenario string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.posts {
		if r.scenario != scenario || !r.acked {
			continue
		}
		for _, reads := range r.readers {
			if !anyIntact(reads) {
				n++
			}
		}
	}
	return n
}

// Strays counts entries read that nobody posted in this run, and reads by
// people who were not the author's friends.
func (l *Ledger) Strays() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.early) + l.foreign
}

func anyIntact(reads []read) bool {
	for _, r := range reads {
		if r.intact {
			return true
		}
	}
	return false
}

// Row is one scenario's line of the table.
type Row struct {
	Fault string
	// Posted counts post attempts; Acked those that returned success.
	Posted, Acked int
	// Intact counts acknowledged entries every friend read back with
	// identical text and attachments; Lost those some friend never did;
	// Duplicated those some friend was given more than once.
	Intact, Lost, Duplicated int
	// LateUnacked counts entries whose post failed but that friends read
	// anyway (the content was stored; a later sync sent the headers).
	LateUnacked int
	// P50 and P99 are of the time from the start of a post to a friend's
	// sync returning it, over every delivery of an acknowledged entry.
	P50, P99 time.Duration
	// Note says what else the scenario checked; Err why it failed beyond
	// losses and duplicates.
	Note string
	Err  string
	// Missing describes the first lost and duplicated deliveries.
	Missing []string
	// Drops are the packets the nodes dropped meanwhile, by reason.
	Drops map[string]int
	// SyncTime and SyncPackets are a sync's mean time and the real packets
	// its client sent meanwhile.
	SyncTime    time.Duration
	SyncPackets float64
}

// Pass reports whether the row passes: nothing acknowledged lost or
// duplicated, something acknowledged, and no other failure.
func (r Row) Pass() bool { return r.Lost == 0 && r.Duplicated == 0 && r.Acked > 0 && r.Err == "" }

// Row computes scenario's row.
func (l *Ledger) Row(scenario, fault string) Row {
	l.mu.Lock()
	defer l.mu.Unlock()
	row := Row{Fault: fault, Posted: l.tried[scenario]}
	var lat []time.Duration
	for _, r := range l.posts {
		if r.scenario != scenario {
			continue
		}
		if !r.acked {
			for _, reads := range r.readers {
				if anyIntact(reads) {
					row.LateUnacked++
					break
				}
			}
			continue
		}
		row.Acked++
		lost, dup := false, false
		for _, reader := range slices.Sorted(maps.Keys(r.readers)) {
			reads := r.readers[reader]
			if len(reads) > 1 {
				dup = true
				row.describe("entry %.12s by %s delivered %d times to %s", r.entry.ID, r.author, len(reads), reader)
			}
			first := -1
			for i, rd := range reads {
				if rd.intact {
					first = i
					break
				}
			}
			if first < 0 {
				lost = true
				row.describe("entry %.12s by %s, posted %s, acknowledged, never read intact by %s (%d reads)", r.entry.ID, r.author, r.start.Format("15:04:05.000"), reader, len(reads))
				continue
			}
			lat = append(lat, reads[first].at.Sub(r.start))
		}
		switch {
		case lost:
			row.Lost++
		default:
			row.Intact++
		}
		if dup {
			row.Duplicated++
		}
	}
	row.P50, row.P99 = percentile(lat, 50), percentile(lat, 99)
	return row
}

// maxMissing bounds the deliveries a row describes.
const maxMissing = 8

func (r *Row) describe(format string, args ...any) {
	if len(r.Missing) < maxMissing {
		r.Missing = append(r.Missing, fmt.Sprintf(format, args...))
	}
}

// percentile is the nearest-rank percentile p of ds; zero for none.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := (p*len(s) + 99) / 100 // ⌈p·n/100⌉
	return s[max(rank, 1)-1]
}
