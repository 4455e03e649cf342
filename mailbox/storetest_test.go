package mailbox

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"loam/internal/clock"
)

// The Store conformance suite: every Store implementation must pass it
// (SPEC.md §7.2, §7.4). It runs against MemoryStore and BadgerStore.

type storeImpl struct {
	name string
	open func(t testing.TB, l Limits, c clock.Clock) Store
}

func storeImpls() []storeImpl {
	return []storeImpl{
		{"memory", func(t testing.TB, l Limits, c clock.Clock) Store { return NewMemoryStore(l, c) }},
		{"badger", func(t testing.TB, l Limits, c clock.Clock) Store { return openTestBadger(t, t.TempDir(), l, c) }},
	}
}

// openTestBadger opens a BadgerStore with a small memtable (tests open
// many) that is closed when the test ends.
func openTestBadger(t testing.TB, dir string, l Limits, c clock.Clock) *BadgerStore {
	t.Helper()
	s, err := OpenBadgerStore(dir, l, testBadgerOptions(c))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testBadgerOptions(c clock.Clock) BadgerOptions {
	return BadgerOptions{Clock: c, Logger: slog.New(slog.DiscardHandler), MemTableSize: 4 << 20, CacheSize: 1 << 20}
}

var epoch0 = time.Unix(1_700_000_000, 0)

func testLimits() Limits {
	return Limits{MaxBlob: 100, MaxEntries: 1000, MaxBytes: 1 << 20, TTL: time.Hour}
}

func TestStoreConformance(t *testing.T) {
	for _, impl := range storeImpls() {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range conformanceCases {
				t.Run(c.name, func(t *testing.T) {
					v := clock.NewVirtual(epoch0)
					l := testLimits()
					if c.limits != nil {
						c.limits(&l)
					}
					c.run(t, impl.open(t, l, v), v)
				})
			}
		})
	}
}

var conformanceCases = []struct {
	name   string
	limits func(*Limits)
	run    func(t *testing.T, s Store, v *clock.Virtual)
}{
	{name: "DenseFromOne", run: func(t *testing.T, s Store, _ *clock.Virtual) {
		id := testID(1)
		for i := 1; i <= 50; i++ {
			if seq := mustDeposit(t, s, id, blobN(i)); seq != uint64(i) {
				t.Fatalf("deposit %d got seq %d", i, seq)
			}
		}
		es, head := mustFetch(t, s, id, 0, 100)
		if head != 51 || len(es) != 50 {
			t.Fatalf("head %d, %d entries; want 51, 50", head, len(es))
		}
		for i, e := range es {
			if e.Seq != uint64(i+1) || !bytes.Equal(e.Blob, blobN(i+1)) {
				t.Fatalf("entry %d: seq %d blob %q", i, e.Seq, e.Blob)
			}
		}
		// Another mailbox counts on its own.
		if seq := mustDeposit(t, s, testID(2), blobN(1)); seq != 1 {
			t.Fatalf("first deposit in a second mailbox got %d", seq)
		}
	}},
	{name: "Dedup", limits: func(l *Limits) { l.MaxEntries = 2 }, run: func(t *testing.T, s Store, _ *clock.Virtual) {
		id := testID(1)
		a := mustDeposit(t, s, id, []byte("a"))
		for range 3 {
			if again := mustDeposit(t, s, id, []byte("a")); again != a {
				t.Fatalf("repeated deposit got %d, first %d", again, a)
			}
		}
		b := mustDeposit(t, s, id, []byte("b"))
		if a != 1 || b != 2 {
			t.Fatalf("seqs %d %d, want 1 2: a repeat took a number", a, b)
		}
		// Full, yet a repeat still gets its number: it stores nothing.
		if again, err := s.Deposit(id, []byte("b")); err != nil || again != 2 {
			t.Fatalf("repeat into a full mailbox: %d %v", again, err)
		}
		es, head := mustFetch(t, s, id, 1, 10)
		if len(es) != 2 || head != 3 {
			t.Fatalf("%d entries head %d: a repeat was stored", len(es), head)
		}
		// The empty blob is a blob like any other.
		if seq := mustDeposit(t, s, testID(3), nil); seq != 1 {
			t.Fatalf("empty blob got %d", seq)
		}
		if seq := mustDeposit(t, s, testID(3), []byte{}); seq != 1 {
			t.Fatalf("empty blob again got %d", seq)
		}
	}},
	{name: "QuotaEntries", limits: func(l *Limits) { l.MaxEntries = 3 }, run: func(t *testing.T, s Store, _ *clock.Virtual) {
		id := testID(1)
		for i := 1; i <= 3; i++ {
			mustDeposit(t, s, id, blobN(i))
		}
		if _, err := s.Deposit(id, blobN(4)); !errors.Is(err, ErrQuota) {
			t.Fatalf("fourth deposit: %v, want ErrQuota", err)
		}
		if seq := mustDeposit(t, s, testID(2), blobN(4)); seq != 1 {
			t.Fatal("quota of one mailbox refused another")
		}
		if n := mustDelete(t, s, id, 1); n != 1 {
			t.Fatalf("deleted %d", n)
		}
		if seq := mustDeposit(t, s, id, blobN(4)); seq != 4 {
			t.Fatalf("after a delete the deposit got %d, want 4 (numbers are never reused)", seq)
		}
	}},
	{name: "QuotaBytes", limits: func(l *Limits) { l.MaxBytes = 10 }, run: func(t *testing.T, s Store, _ *clock.Virtual) {
		id := testID(1)
		mustDeposit(t, s, id, []byte("aaaa"))
		mustDeposit(t, s, id, []byte("bbbb"))
		if _, err := s.Deposit(id, []byte("ccc")); !errors.Is(err, ErrQuota) {
			t.Fatalf("11 bytes of 10: %v, want ErrQuota", err)
		}
		if seq := mustDeposit(t, s, id, []byte("cc")); seq != 3 {
			t.Fatalf("exactly 10 bytes: seq %d", seq)
		}
		mustDelete(t, s, id, 2)
		if seq := mustDeposit(t, s, id, []byte("dddddddd")); seq != 4 {
			t.Fatalf("after freeing 8 bytes: seq %d", seq)
		}
	}},
	{name: "BlobLimit", run: func(t *testing.T, s Store, _ *clock.Virtual) {
		id := testID(1)
		if seq := mustDeposit(t, s, id, make([]byte, 100)); seq != 1 {
			t.Fatalf("blob at the limit: %d", seq)
		}
		if _, err := s.Deposit(id, make([]byte, 101)); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("blob over the limit: %v, want ErrTooLarge", err)
		}
		if seq := mustDeposit(t, s, id, []byte("x")); seq != 2 {
			t.Fatalf("an oversized blob took a number: next is %d", seq)
		}
	}},
	{name: "TTL", limits: func(l *Limits) { l.MaxEntries = 2 }, run: func(t *testing.T, s Store, v *clock.Virtual) {
		id := testID(1)
		mustDeposit(t, s, id, []byte("a"))
		v.Advance(30 * time.Minute)
		mustDeposit(t, s, id, []byte("b"))
		v.Advance(30 * time.Minute) // a is exactly TTL old: still there
		if es, _ := mustFetch(t, s, id, 0, 10); len(es) != 2 {
			t.Fatalf("%d entries at exactly the TTL, want 2", len(es))
		}
		v.Advance(time.Nanosecond)
		es, head := mustFetch(t, s, id, 0, 10)
		if len(es) != 1 || es[0].Seq != 2 || head != 3 {
			t.Fatalf("after a's TTL: %v head %d, want only seq 2, head 3", seqs(es), head)
		}
		// a's expiry frees its quota and its dedup record: the same blob
		// is a new entry with a new number.
		if seq := mustDeposit(t, s, id, []byte("a")); seq != 3 {
			t.Fatalf("a deposited again after expiry got %d, want 3", seq)
		}
		if _, err := s.Deposit(id, []byte("c")); !errors.Is(err, ErrQuota) {
			t.Fatalf("third live entry of 2: %v", err)
		}
		v.Advance(2 * time.Hour)
		if es, _ := mustFetch(t, s, id, 0, 10); len(es) != 0 {
			t.Fatalf("after everything expired: %v", seqs(es))
		}
	}},
	{name: "Delete", run: func(t *testing.T, s Store, _ *clock.Virtual) {
		id := testID(1)
		for i := 1; i <= 10; i++ {
			mustDeposit(t, s, id, blobN(i))
		}
		if n := mustDelete(t, s, id, 4); n != 4 {
			t.Fatalf("delete up to 4 removed %d", n)
		}
		if n := mustDelete(t, s, id, 4); n != 0 {
			t.Fatalf("replayed delete removed %d", n)
		}
		if n := mustDelete(t, s, id, 0); n != 0 {
			t.Fatalf("delete up to 0 removed %d", n)
		}
		es, head := mustFetch(t, s, id, 0, 100)
		if len(es) != 6 || es[0].Seq != 5 || head != 11 {
			t.Fatalf("after delete: %v head %d", seqs(es), head)
		}
		// A deleted blob deposited again is a new entry.
		if seq := mustDeposit(t, s, id, blobN(2)); seq != 11 {
			t.Fatalf("deleted blob deposited again got %d, want 11", seq)
		}
		if n := mustDelete(t, s, id, 1<<62); n != 7 {
			t.Fatalf("delete all removed %d, want 7", n)
		}
		if es, head := mustFetch(t, s, id, 0, 100); len(es) != 0 || head != 12 {
			t.Fatalf("after deleting all: %v head %d", seqs(es), head)
		}
		if seq := mustDeposit(t, s, id, blobN(1)); seq != 12 {
			t.Fatalf("after deleting all the next deposit got %d, want 12", seq)
		}
		if n := mustDelete(t, s, testID(9), 100); n != 0 {
			t.Fatalf("delete in an unknown mailbox removed %d", n)
		}
	}},
	{name: "FetchCursors", run: func(t *testing.T, s Store, _ *clock.Virtual) {
		id := testID(1)
		if es, head := mustFetch(t, s, id, 0, 10); len(es) != 0 || head != 1 {
			t.Fatalf("unknown mailbox: %v head %d", seqs(es), head)
		}
		for i := 1; i <= 20; i++ {
			mustDeposit(t, s, id, blobN(i))
		}
		mustDelete(t, s, id, 5)
		for _, c := range []struct {
			cursor uint64
			max    int
			want   []uint64
		}{
			{0, 3, []uint64{6, 7, 8}},
			{1, 3, []uint64{6, 7, 8}},
			{6, 2, []uint64{6, 7}},
			{10, 100, []uint64{10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}},
			{20, 5, []uint64{20}},
			{21, 5, nil},
			{1 << 63, 5, nil},
			{7, 0, nil},
			{7, -1, nil},
		} {
			es, head := mustFetch(t, s, id, c.cursor, c.max)
			if !slices.Equal(seqs(es), c.want) || head != 21 {
				t.Errorf("fetch(%d, %d) = %v head %d, want %v head 21", c.cursor, c.max, seqs(es), head, c.want)
			}
			for _, e := range es {
				if !bytes.Equal(e.Blob, blobN(int(e.Seq))) {
					t.Errorf("entry %d holds %q", e.Seq, e.Blob)
				}
			}
		}
		// What Fetch returns is the caller's to change.
		es, _ := mustFetch(t, s, id, 6, 1)
		es[0].Blob[0] ^= 0xff
		if again, _ := mustFetch(t, s, id, 6, 1); !bytes.Equal(again[0].Blob, blobN(6)) {
			t.Fatal("changing a fetched blob changed the store")
		}
	}},
	{name: "ConcurrentDense", run: func(t *testing.T, s Store, _ *clock.Virtual) {
		id := testID(1)
		const workers, each = 8, 25
		got := make(chan uint64, workers*each)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					seq, err := s.Deposit(id, blobN(w*1000+i))
					if err != nil {
						t.Error(err)
						return
					}
					got <- seq
				}
			})
		}
		// The same blob from every worker at once: one entry.
		same := make(chan uint64, workers)
		for range workers {
			wg.Go(func() {
				seq, err := s.Deposit(testID(2), []byte("same"))
				if err != nil {
					t.Error(err)
				}
				same <- seq
			})
		}
		wg.Wait()
		close(got)
		close(same)
		var all []uint64
		for seq := range got {
			all = append(all, seq)
		}
		slices.Sort(all)
		for i, seq := range all {
			if seq != uint64(i+1) {
				t.Fatalf("concurrent deposits got numbers %v…, not 1 to %d", all[:min(len(all), i+2)], workers*each)
			}
		}
		for seq := range same {
			if seq != 1 {
				t.Fatalf("a concurrent repeat got %d", seq)
			}
		}
		if es, head := mustFetch(t, s, testID(2), 0, 10); len(es) != 1 || head != 2 {
			t.Fatalf("concurrent repeats stored %d entries", len(es))
		}
	}},
	{name: "ConcurrentQuota", limits: func(l *Limits) { l.MaxEntries = 10 }, run: func(t *testing.T, s Store, _ *clock.Virtual) {
		id := testID(1)
		var (
			wg           sync.WaitGroup
			mu           sync.Mutex
			stored, full int
		)
		for i := range 40 {
			wg.Go(func() {
				_, err := s.Deposit(id, blobN(i))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					stored++
				case errors.Is(err, ErrQuota):
					full++
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if stored != 10 || full != 30 {
			t.Fatalf("%d stored and %d refused, want 10 and 30", stored, full)
		}
		if es, head := mustFetch(t, s, id, 0, 100); len(es) != 10 || head != 11 {
			t.Fatalf("%d entries, head %d", len(es), head)
		}
	}},
	{name: "ConcurrentMixed", run: func(t *testing.T, s Store, _ *clock.Virtual) {
		// Deposits, fetches and deletes in several mailboxes at once; each
		// mailbox ends dense and consistent.
		var wg sync.WaitGroup
		for b := range 4 {
			id := testID(byte(10 + b))
			wg.Go(func() {
				for i := 1; i <= 40; i++ {
					if seq, err := s.Deposit(id, blobN(i)); err != nil || seq != uint64(i) {
						t.Errorf("mailbox %d deposit %d: %d %v", b, i, seq, err)
						return
					}
					if i%10 == 0 {
						if _, err := s.Delete(id, uint64(i-5)); err != nil {
							t.Error(err)
						}
					}
				}
			})
			wg.Go(func() {
				for range 40 {
					es, head, err := s.Fetch(id, 0, 255)
					if err != nil {
						t.Error(err)
						return
					}
					for i, e := range es {
						if e.Seq >= head || (i > 0 && e.Seq <= es[i-1].Seq) || !bytes.Equal(e.Blob, blobN(int(e.Seq))) {
							t.Errorf("mailbox %d: inconsistent fetch %v head %d", b, seqs(es), head)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		for b := range 4 {
			es, head := mustFetch(t, s, testID(byte(10+b)), 0, 255)
			if head != 41 || len(es) != 5 || es[0].Seq != 36 {
				t.Errorf("mailbox %d ends with %v head %d", b, seqs(es), head)
			}
		}
	}},
}

// TestStoresAgree runs random sequences of deposits, fetches and deletes
// (small blobs from a small set, so that repeats and quotas happen) on a
// MemoryStore and a BadgerStore side by side: every answer must be the
// same. Time moves in steps well inside the TTL; expiry is covered by the
// TTL case of the conformance suite.
func TestStoresAgree(t *testing.T) {
	// Opening a badger store takes tens of milliseconds, so each set of
	// limits has one, shared by the runs that draw it; every run has
	// mailboxes of its own and a fresh MemoryStore on the same time.
	presets := []Limits{
		{MaxBlob: 8, MaxEntries: 1, MaxBytes: 60, TTL: time.Hour},
		{MaxBlob: 8, MaxEntries: 3, MaxBytes: 20, TTL: time.Hour},
		{MaxBlob: 8, MaxEntries: 5, MaxBytes: 9, TTL: time.Hour},
		{MaxBlob: 8, MaxEntries: 12, MaxBytes: 60, TTL: time.Hour},
	}
	type pair struct {
		bad    *BadgerStore
		vm, vb *clock.Virtual
	}
	pairs := map[int]*pair{}
	run := 0
	rapid.Check(t, func(rt *rapid.T) {
		preset := rapid.IntRange(0, len(presets)-1).Draw(rt, "limits")
		l := presets[preset]
		p := pairs[preset]
		if p == nil {
			p = &pair{vm: clock.NewVirtual(epoch0), vb: clock.NewVirtual(epoch0)}
			p.bad = openTestBadger(t, t.TempDir(), l, p.vb)
			pairs[preset] = p
		}
		vm, vb, bad := p.vm, p.vb, p.bad
		mem := NewMemoryStore(l, vm)
		run++
		ids := []ID{testID(1), testID(2), testID(3)}
		for i := range ids {
			ids[i][1], ids[i][2] = byte(run), byte(run>>8)
		}
		for step := range rapid.IntRange(1, 60).Draw(rt, "steps") {
			id := rapid.SampledFrom(ids).Draw(rt, "id")
			switch rapid.IntRange(0, 9).Draw(rt, "op") {
			case 0, 1, 2, 3, 4:
				blob := bytes.Repeat([]byte{rapid.ByteRange('a', 'f').Draw(rt, "b")}, rapid.IntRange(0, 10).Draw(rt, "len"))
				s1, e1 := mem.Deposit(id, blob)
				s2, e2 := bad.Deposit(id, blob)
				if s1 != s2 || !sameErr(e1, e2) {
					rt.Fatalf("step %d: deposit %q: memory %d %v, badger %d %v", step, blob, s1, e1, s2, e2)
				}
			case 5, 6:
				cursor := uint64(rapid.IntRange(0, 15).Draw(rt, "cursor"))
				max := rapid.IntRange(0, 6).Draw(rt, "max")
				es1, h1, e1 := mem.Fetch(id, cursor, max)
				es2, h2, e2 := bad.Fetch(id, cursor, max)
				if h1 != h2 || !sameErr(e1, e2) || !sameEntries(es1, es2) {
					rt.Fatalf("step %d: fetch(%d, %d): memory %v head %d %v, badger %v head %d %v", step, cursor, max, es1, h1, e1, es2, h2, e2)
				}
			case 7, 8:
				upTo := uint64(rapid.IntRange(0, 15).Draw(rt, "upTo"))
				n1, e1 := mem.Delete(id, upTo)
				n2, e2 := bad.Delete(id, upTo)
				if n1 != n2 || !sameErr(e1, e2) {
					rt.Fatalf("step %d: delete(%d): memory %d %v, badger %d %v", step, upTo, n1, e1, n2, e2)
				}
			case 9:
				d := time.Duration(rapid.IntRange(1, 50).Draw(rt, "seconds")) * time.Second
				vm.Advance(d)
				vb.Advance(d)
			}
		}
	})
}

func sameErr(a, b error) bool {
	return (a == nil) == (b == nil) && errors.Is(a, ErrQuota) == errors.Is(b, ErrQuota) && errors.Is(a, ErrTooLarge) == errors.Is(b, ErrTooLarge)
}

func sameEntries(a, b []Entry) bool {
	return slices.EqualFunc(a, b, func(x, y Entry) bool { return x.Seq == y.Seq && bytes.Equal(x.Blob, y.Blob) })
}

func testID(b byte) ID {
	var id ID
	id[0], id[31] = b, 0xa5
	return id
}

func blobN(i int) []byte { return fmt.Appendf(nil, "blob %d", i) }

func seqs(es []Entry) []uint64 {
	var out []uint64
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

func mustDeposit(t testing.TB, s Store, id ID, blob []byte) uint64 {
	t.Helper()
	seq, err := s.Deposit(id, blob)
	if err != nil {
		t.Fatalf("deposit %q: %v", blob, err)
	}
	return seq
}

func mustFetch(t testing.TB, s Store, id ID, cursor uint64, max int) ([]Entry, uint64) {
	t.Helper()
	es, head, err := s.Fetch(id, cursor, max)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	return es, head
}

func mustDelete(t testing.TB, s Store, id ID, upTo uint64) uint64 {
	t.Helper()
	n, err := s.Delete(id, upTo)
	if err != nil {
		t.Fatalf("delete: %v", err)
	}
	return n
}
