package mailbox

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"loam/internal/clock"
	"loam/internal/killtest"
	"loam/onion"
)

// TestBadgerPersistence: everything a store held is there after Close and
// reopen: entries, numbering, dedup records and quota counters.
func TestBadgerPersistence(t *testing.T) {
	dir := t.TempDir()
	v := clock.NewVirtual(epoch0)
	l := testLimits()
	l.MaxEntries = 5
	s, err := OpenBadgerStore(dir, l, testBadgerOptions(v))
	if err != nil {
		t.Fatal(err)
	}
	a, b := testID(1), testID(2)
	for i := 1; i <= 5; i++ {
		mustDeposit(t, s, a, blobN(i))
	}
	for i := 1; i <= 3; i++ {
		mustDeposit(t, s, b, blobN(i))
	}
	mustDelete(t, s, b, 2)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTestBadger(t, dir, l, v)
	es, head := mustFetch(t, s, a, 0, 10)
	if head != 6 || len(es) != 5 {
		t.Fatalf("mailbox a after reopen: %v head %d", seqs(es), head)
	}
	for _, e := range es {
		if !bytes.Equal(e.Blob, blobN(int(e.Seq))) {
			t.Fatalf("entry %d holds %q", e.Seq, e.Blob)
		}
	}
	if _, err := s.Deposit(a, blobN(6)); !errors.Is(err, ErrQuota) {
		t.Fatalf("a full mailbox took a deposit after reopen: %v", err)
	}
	if seq := mustDeposit(t, s, a, blobN(3)); seq != 3 {
		t.Fatalf("a repeat after reopen got %d, want 3", seq)
	}
	if es, head := mustFetch(t, s, b, 0, 10); head != 4 || len(es) != 1 || es[0].Seq != 3 {
		t.Fatalf("mailbox b after reopen: %v head %d", seqs(es), head)
	}
	if seq := mustDeposit(t, s, b, blobN(1)); seq != 4 {
		t.Fatalf("b's next deposit after reopen got %d, want 4", seq)
	}
}

// crashEnv makes the test binary the crash test's child: it deposits into
// the store named by the variable until it is killed.
const crashEnv = "LOAM_MAILBOX_CRASH_STORE"

// TestBadgerCrashDurability: a child process deposits from 16 goroutines
// and prints each acknowledged deposit; it is killed with SIGKILL in mid
// stream. Every acknowledged blob is in the reopened store, intact, under
// the number it was given, and the numbers are dense.
func TestBadgerCrashDurability(t *testing.T) {
	if dir := os.Getenv(crashEnv); dir != "" {
		crashChild(dir)
		return
	}
	dir := t.TempDir()
	type ack struct {
		blob int
		seq  uint64
	}
	var acks []ack
	killtest.Run(t, "TestBadgerCrashDurability", []string{crashEnv + "=" + dir}, func(line string) bool {
		var a ack
		if _, err := fmt.Sscanf(line, "ack %d %d", &a.blob, &a.seq); err != nil {
			return false
		}
		acks = append(acks, a)
		return len(acks) == 400
	})

	s := openTestBadger(t, dir, crashLimits(), clock.Real())
	es, head := mustFetch(t, s, crashID(), 0, 1<<30)
	for i, e := range es {
		if e.Seq != uint64(i+1) {
			t.Fatalf("after the crash the store holds %v…: not dense", seqs(es[:i+1]))
		}
	}
	if head != uint64(len(es))+1 {
		t.Fatalf("head %d with %d entries", head, len(es))
	}
	for _, a := range acks {
		if a.seq == 0 || a.seq > uint64(len(es)) {
			t.Fatalf("acknowledged seq %d (blob %d) is missing: the store holds %d entries", a.seq, a.blob, len(es))
		}
		if got := es[a.seq-1].Blob; !bytes.Equal(got, crashBlob(a.blob)) {
			t.Fatalf("acknowledged seq %d holds %d bytes that are not blob %d", a.seq, len(got), a.blob)
		}
	}
	t.Logf("%d acknowledged deposits before SIGKILL; %d entries survived", len(acks), len(es))
	if seq := mustDeposit(t, s, crashID(), []byte("after the crash")); seq != head {
		t.Fatalf("the first deposit after the crash got %d, want %d", seq, head)
	}
}

func crashLimits() Limits {
	return Limits{MaxBlob: 2048, MaxEntries: 1 << 20, MaxBytes: 1 << 30, TTL: time.Hour}
}

func crashID() ID { return testID(7) }

// crashBlob is blob i: 1500 bytes that name i, so a swapped or damaged
// entry is caught.
func crashBlob(i int) []byte {
	var b []byte
	for h := sha256.Sum256([]byte(strconv.Itoa(i))); len(b) < 1500; h = sha256.Sum256(h[:]) {
		b = append(b, h[:]...)
	}
	return b[:1500]
}

// crashChild deposits blobs 0, 1, 2, … from 16 goroutines and writes
// "ack <blob> <seq>" for each once Deposit has returned, until killed.
func crashChild(dir string) {
	s, err := OpenBadgerStore(dir, crashLimits(), BadgerOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	var (
		mu   sync.Mutex
		next int
	)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				seq, err := s.Deposit(crashID(), crashBlob(i))
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ack %d %d\n", i, seq) // unbuffered: one write each
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// TestBadgerBadDirectory: a directory that is not a mailbox store is
// refused at open with ErrCorruptStore, never a panic and never written
// into.
func TestBadgerBadDirectory(t *testing.T) {
	write := func(t *testing.T, dir, name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	garbage := bytes.Repeat([]byte("not badger "), 400)
	for _, c := range []struct {
		name string
		prep func(t *testing.T, dir string) string // returns the path to open
		want string
	}{
		{"someone's files", func(t *testing.T, dir string) string {
			write(t, dir, "notes.txt", []byte("hello"))
			return dir
		}, `holds "notes.txt" and no badger MANIFEST`},
		{"a file", func(t *testing.T, dir string) string {
			write(t, dir, "store", []byte("hello"))
			return filepath.Join(dir, "store")
		}, "is not a directory"},
		{"garbage MANIFEST", func(t *testing.T, dir string) string {
			write(t, dir, "MANIFEST", garbage)
			return dir
		}, "unreadable MANIFEST"},
		{"garbage badger files", func(t *testing.T, dir string) string {
			write(t, dir, "MANIFEST", garbage)
			write(t, dir, "000001.sst", garbage)
			write(t, dir, "000001.vlog", garbage)
			write(t, dir, "00001.mem", garbage)
			return dir
		}, "unreadable MANIFEST"},
		{"garbage tables of a real store", func(t *testing.T, dir string) string {
			s := openTestBadger(t, dir, testLimits(), nil)
			for i := range 1000 {
				mustDeposit(t, s, testID(1), blobN(i))
			}
			s.Close() // flushes the memtable into a table
			tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
			if len(tables) == 0 {
				t.Fatal("no tables to damage")
			}
			for _, tb := range tables {
				write(t, dir, filepath.Base(tb), garbage)
			}
			return dir
		}, "is damaged: unreadable footer or index"},
		{"another program's badger database", func(t *testing.T, dir string) string {
			db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
			if err != nil {
				t.Fatal(err)
			}
			db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("user/1"), []byte("alice")) })
			db.Close()
			return dir
		}, "a badger database of another program"},
		{"a later format", func(t *testing.T, dir string) string {
			db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
			if err != nil {
				t.Fatal(err)
			}
			db.Update(func(txn *badger.Txn) error { return txn.Set(markerKey(), []byte("loam mailbox store v9")) })
			db.Close()
			return dir
		}, `marked "loam mailbox store v9"`},
		{"open twice", func(t *testing.T, dir string) string {
			openTestBadger(t, dir, testLimits(), nil)
			return dir
		}, "badger cannot open"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := c.prep(t, dir)
			before := listDir(t, dir)
			s, err := OpenBadgerStore(path, testLimits(), testBadgerOptions(nil))
			if err == nil {
				s.Close()
				t.Fatalf("opened; want an error containing %q", c.want)
			}
			if !errors.Is(err, ErrCorruptStore) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q; want ErrCorruptStore containing %q", err, c.want)
			}
			if c.name == "someone's files" {
				if after := listDir(t, dir); after != before {
					t.Fatalf("the directory changed from %s to %s", before, after)
				}
			}
		})
	}
}

func listDir(t *testing.T, dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return strings.Join(names, ",")
}

// TestBadgerDamageNeverPanics damages each kind of file of a real store
// in turn: garbage in place of it, its first or second half cut off, a
// run of bytes in its middle flipped. Opening either fails with
// ErrCorruptStore or succeeds, and then reads and writes answer (an error
// or not); nothing panics, which would kill this test binary.
func TestBadgerDamageNeverPanics(t *testing.T) {
	master := t.TempDir()
	s, err := OpenBadgerStore(master, testLimits(), testBadgerOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 800 {
		mustDeposit(t, s, testID(byte(i%4)), blobN(i))
	}
	s.Close() // the memtable goes to a table
	s, err = OpenBadgerStore(master, testLimits(), testBadgerOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 { // and some in the write-ahead log of the next one
		mustDeposit(t, s, testID(5), blobN(i))
	}
	// A copy taken while the store is open, as after a crash.
	crashed := t.TempDir()
	copyDir(t, master, crashed)
	s.Close()
	master = crashed
	files, _ := os.ReadDir(master)
	damages := map[string]func([]byte) []byte{
		"garbage":     func(b []byte) []byte { return bytes.Repeat([]byte{0x5a}, max(len(b), 64)) },
		"first half":  func(b []byte) []byte { return b[:len(b)/2] },
		"second half": func(b []byte) []byte { return b[len(b)/2:] },
		"flipped": func(b []byte) []byte {
			b = bytes.Clone(b)
			for i := len(b) / 3; i < len(b)/3+64 && i < len(b); i++ {
				b[i] ^= 0xff
			}
			return b
		},
	}
	for _, f := range files {
		for how, damage := range damages {
			t.Run(f.Name()+"/"+how, func(t *testing.T) {
				dir := t.TempDir()
				copyDir(t, master, dir)
				path := filepath.Join(dir, f.Name())
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, damage(b), 0o600); err != nil {
					t.Fatal(err)
				}
				s, err := OpenBadgerStore(dir, testLimits(), testBadgerOptions(nil))
				if err != nil {
					if !errors.Is(err, ErrCorruptStore) {
						t.Fatalf("open: %v, want ErrCorruptStore", err)
					}
					return
				}
				defer s.Close()
				for b := range 6 {
					s.Fetch(testID(byte(b)), 0, 255)
					s.Deposit(testID(byte(b)), []byte("after the damage"))
				}
			})
		}
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	files, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Name() == "LOCK" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, f.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBadgerPurgeAndRetire: a GC round removes expired entries with every
// key that refers to them, keeps the rest, and forgets a mailbox that is
// empty and idle for the TTL.
func TestBadgerPurgeAndRetire(t *testing.T) {
	v := clock.NewVirtual(epoch0)
	l := testLimits()
	opts := testBadgerOptions(v)
	opts.GCInterval = time.Minute
	s, err := OpenBadgerStore(t.TempDir(), l, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	old, young, emptied := testID(1), testID(2), testID(3)
	for i := 1; i <= 30; i++ {
		mustDeposit(t, s, old, blobN(i))
	}
	mustDeposit(t, s, emptied, blobN(1))
	mustDelete(t, s, emptied, 1)
	v.Advance(40 * time.Minute)
	for i := 1; i <= 3; i++ {
		mustDeposit(t, s, young, blobN(i))
	}
	v.Advance(21 * time.Minute) // old and emptied are past the TTL; young is not; a round ran

	counts := countKeys(t, s)
	want := map[byte]int{keyMarker: 1, keyMeta: 1, keyEntry: 3, keyDedup: 3, keyExpiry: 1}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%d keys of kind %q after the purge, want %d (all: %v)", counts[k], k, n, counts)
		}
	}
	if es, head := mustFetch(t, s, young, 0, 10); len(es) != 3 || head != 4 {
		t.Fatalf("the young mailbox lost entries: %v head %d", seqs(es), head)
	}
	// A forgotten mailbox starts again from 1 (docs/spec-drafts/replica.md).
	if es, head := mustFetch(t, s, old, 0, 10); len(es) != 0 || head != 1 {
		t.Fatalf("the expired mailbox: %v head %d", seqs(es), head)
	}
	v.Advance(time.Hour)
	if counts := countKeys(t, s); counts[keyEntry]+counts[keyMeta]+counts[keyDedup]+counts[keyExpiry] != 0 {
		t.Fatalf("keys left after everything expired: %v", counts)
	}
}

// TestBadgerExpiredQuota: a mailbox full of expired entries takes a
// deposit before any GC round has purged them.
func TestBadgerExpiredQuota(t *testing.T) {
	v := clock.NewVirtual(epoch0)
	l := testLimits()
	l.MaxEntries = 3
	opts := testBadgerOptions(v)
	opts.GCInterval = 24 * time.Hour
	s, err := OpenBadgerStore(t.TempDir(), l, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id := testID(1)
	for i := 1; i <= 3; i++ {
		mustDeposit(t, s, id, blobN(i))
	}
	v.Advance(2 * time.Hour)
	if seq := mustDeposit(t, s, id, blobN(4)); seq != 4 {
		t.Fatalf("got %d", seq)
	}
	if seq := mustDeposit(t, s, id, blobN(1)); seq != 5 {
		t.Fatalf("an expired blob deposited again got %d, want 5", seq)
	}
	if counts := countKeys(t, s); counts[keyEntry] != 2 || counts[keyDedup] != 2 {
		t.Fatalf("keys after the inline purge: %v", counts)
	}
}

func countKeys(t *testing.T, s *BadgerStore) map[byte]int {
	t.Helper()
	counts := map[byte]int{}
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			counts[it.Item().Key()[0]]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return counts
}

// TestBadgerLargeDelete: a delete that spans many transactions removes
// everything and keeps the counters right.
func TestBadgerLargeDelete(t *testing.T) {
	l := testLimits()
	l.MaxEntries = 2000
	opts := testBadgerOptions(nil)
	opts.MemTableSize = 1 << 20 // a transaction holds a few hundred removals
	s, err := OpenBadgerStore(t.TempDir(), l, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.budget.writes > 1500 {
		t.Fatalf("budget of %d writes: the delete would fit in one transaction", s.budget.writes)
	}
	id := testID(1)
	var wg sync.WaitGroup
	for w := range 10 {
		wg.Go(func() {
			for i := range 200 {
				if _, err := s.Deposit(id, blobN(w*200+i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := mustDelete(t, s, id, 1990); n != 1990 {
		t.Fatalf("deleted %d of 1990", n)
	}
	es, head := mustFetch(t, s, id, 0, 100)
	if len(es) != 10 || es[0].Seq != 1991 || head != 2001 {
		t.Fatalf("after the delete: %v head %d", seqs(es), head)
	}
	for w := range 10 {
		wg.Go(func() {
			for i := range 199 {
				if _, err := s.Deposit(id, []byte("again "+strconv.Itoa(w*199+i))); err != nil {
					t.Errorf("deposit after the delete: %v (quota counters off?)", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if _, err := s.Deposit(id, []byte("one too many")); !errors.Is(err, ErrQuota) {
		t.Fatalf("deposit past the quota: %v", err)
	}
}

// TestBadgerWriteFailure: a store that cannot write fails the deposit,
// the service answers "unavailable", and once writes succeed again the
// numbering goes on without a gap.
func TestBadgerWriteFailure(t *testing.T) {
	s := openTestBadger(t, t.TempDir(), testLimits(), nil)
	id := testID(1)
	mustDeposit(t, s, id, []byte("before"))
	diskFull := errors.New("no space left on device")
	s.failCommit.Store(&diskFull)
	_, err := s.Deposit(id, []byte("during"))
	if !errors.Is(err, diskFull) || errors.Is(err, ErrQuota) || errors.Is(err, ErrTooLarge) {
		t.Fatalf("deposit into a failing store: %v", err)
	}
	if _, err := s.Delete(id, 1); !errors.Is(err, diskFull) {
		t.Fatalf("delete in a failing store: %v", err)
	}

	svc := NewService(s, onion.DefaultGeometry, 1, 1, slog.New(slog.DiscardHandler))
	defer svc.Close()
	var seed [32]byte
	seed[0] = 1
	cp := NewCapability(seed)
	reply, err := ParseReply(opDeposit, svc.handle(AppendDeposit(nil, cp, []byte("x"))))
	if err != nil || reply.Status != StatusUnavailable {
		t.Fatalf("service answer over a failing store: %+v %v, want unavailable", reply, err)
	}

	s.failCommit.Store(nil)
	if seq := mustDeposit(t, s, id, []byte("after")); seq != 2 {
		t.Fatalf("after the failure the deposit got %d, want 2: a failed deposit used a number", seq)
	}
	if es, _ := mustFetch(t, s, id, 0, 10); len(es) != 2 {
		t.Fatalf("entries %v", seqs(es))
	}
}

// TestBadgerClosed: every operation after Close fails with ErrStoreClosed;
// Close may be called again.
func TestBadgerClosed(t *testing.T) {
	s, err := OpenBadgerStore(t.TempDir(), testLimits(), testBadgerOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Deposit(testID(1), nil); !errors.Is(err, ErrStoreClosed) {
		t.Errorf("deposit: %v", err)
	}
	if _, _, err := s.Fetch(testID(1), 0, 1); !errors.Is(err, ErrStoreClosed) {
		t.Errorf("fetch: %v", err)
	}
	if _, err := s.Delete(testID(1), 1); !errors.Is(err, ErrStoreClosed) {
		t.Errorf("delete: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

// TestBadgerCloseUnderLoad: Close while deposits are under way answers
// every one of them (stored or ErrStoreClosed) and what was acknowledged
// is there after reopening.
func TestBadgerCloseUnderLoad(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenBadgerStore(dir, testLimits(), testBadgerOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		acked []uint64
	)
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				seq, err := s.Deposit(testID(1), blobN(w*10000+i))
				if errors.Is(err, ErrStoreClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked = append(acked, seq)
				mu.Unlock()
			}
		})
	}
	time.Sleep(50 * time.Millisecond) // let deposits pile up; the test's pacing only
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	s = openTestBadger(t, dir, testLimits(), nil)
	es, _ := mustFetch(t, s, testID(1), 0, 1<<20)
	if len(es) != len(acked) {
		t.Fatalf("%d acknowledged, %d stored", len(acked), len(es))
	}
}

// TestBadgerOptionsChecked: limits the store cannot honour are refused.
func TestBadgerOptionsChecked(t *testing.T) {
	for _, l := range []Limits{
		{MaxBlob: 1 << 30, MaxEntries: 1, MaxBytes: 1, TTL: time.Hour},
		{MaxBlob: 10, MaxEntries: 0, MaxBytes: 1, TTL: time.Hour},
		{MaxBlob: 10, MaxEntries: 1, MaxBytes: 0, TTL: time.Hour},
		{MaxBlob: 10, MaxEntries: 1, MaxBytes: 1, TTL: 0},
	} {
		if s, err := OpenBadgerStore(t.TempDir(), l, testBadgerOptions(nil)); err == nil {
			s.Close()
			t.Errorf("limits %+v accepted", l)
		}
	}
	if _, err := OpenBadgerStore("", testLimits(), testBadgerOptions(nil)); err == nil {
		t.Error("an empty directory name accepted")
	}
}

// FuzzStoreRecords: the decoders of what a store reads back from disk
// (meta records, entries, repeat-index values, keys) reject damaged bytes
// with ErrCorruptStore and never panic; what they accept encodes back to
// the same bytes.
func FuzzStoreRecords(f *testing.F) {
	m := boxMeta{last: 9, entries: 3, bytes: 300, lastAt: epoch0.UnixNano()}
	f.Add(m.encode())
	f.Add(encodeEntry(epoch0.UnixNano(), []byte("blob")))
	f.Add(encodeSeq(7))
	f.Add(entryKey(testID(1), 5))
	f.Add(expiryKey(bucketOf(epoch0.UnixNano()), testID(1)))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, metaLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := decodeMeta(testID(1), b); err == nil {
			if !bytes.Equal(m.encode(), b) {
				t.Fatalf("meta %x decodes to %+v, which encodes to %x", b, m, m.encode())
			}
		} else if !errors.Is(err, ErrCorruptStore) {
			t.Fatalf("meta: %v", err)
		}
		if at, blob, err := decodeEntry(b); err == nil {
			if !bytes.Equal(encodeEntry(at, blob), b) {
				t.Fatalf("entry %x does not round-trip", b)
			}
		} else if !errors.Is(err, ErrCorruptStore) {
			t.Fatalf("entry: %v", err)
		}
		if seq, err := decodeSeq(b); err == nil && !bytes.Equal(encodeSeq(seq), b) {
			t.Fatalf("seq %x does not round-trip", b)
		}
		if seq, err := parseEntryKey(b); err == nil {
			var id ID
			copy(id[:], b[1:])
			if !bytes.Equal(entryKey(id, seq), b) {
				t.Fatalf("entry key %x does not round-trip", b)
			}
		}
		if bucket, id, err := parseExpiryKey(b); err == nil && !bytes.Equal(expiryKey(bucket, id), b) {
			t.Fatalf("expiry key %x does not round-trip", b)
		}
	})
}
