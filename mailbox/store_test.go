package mailbox

import (
	"errors"
	"testing"
	"time"

	"loam/internal/clock"
)

func TestMemoryStore(t *testing.T) {
	v := clock.NewVirtual(time.Unix(0, 0))
	s := NewMemoryStore(Limits{MaxBlob: 100, MaxEntries: 3, MaxBytes: 1000, TTL: time.Hour}, v)
	id := newBox(t).Cap.ID()
	a, _ := s.Deposit(id, []byte("a"))
	b, _ := s.Deposit(id, []byte("b"))
	again, _ := s.Deposit(id, []byte("a"))
	if a != 1 || b != 2 || again != 1 {
		t.Fatalf("seqs %d %d %d", a, b, again)
	}
	if _, err := s.Deposit(id, make([]byte, 101)); !errors.Is(err, ErrTooLarge) {
		t.Fatal("oversized blob stored")
	}
	s.Deposit(id, []byte("c"))
	if _, err := s.Deposit(id, []byte("d")); !errors.Is(err, ErrQuota) {
		t.Fatal("quota not enforced")
	}
	es, head, _ := s.Fetch(id, 2, 10)
	if len(es) != 2 || es[0].Seq != 2 || head != 4 {
		t.Fatalf("fetch %v head %d", es, head)
	}
	if n, _ := s.Delete(id, 2); n != 2 {
		t.Fatalf("deleted %d", n)
	}
	es, _, _ = s.Fetch(id, 1, 10)
	if len(es) != 1 || es[0].Seq != 3 {
		t.Fatalf("after delete %v", es)
	}
	v.Advance(2 * time.Hour)
	if es, _, _ = s.Fetch(id, 1, 10); len(es) != 0 {
		t.Fatal("entries outlived their TTL")
	}
}
