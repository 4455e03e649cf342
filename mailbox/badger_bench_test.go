package mailbox

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkReplicaDeposit measures durable deposits per second into one
// BadgerStore, without the network: 1500-byte blobs (a fragment's size in
// the default geometry) from many concurrent depositors, as a replica's
// service workers would make them. Each deposit returns only once it is on
// stable storage; concurrent ones share an fsync. "spread" gives each
// depositor a mailbox of its own (a new one every 1000 deposits), as a
// replica serving many readers sees; "one" puts every deposit into one
// mailbox, as the fragments of one large message arrive.
func BenchmarkReplicaDeposit(b *testing.B) {
	procs := runtime.GOMAXPROCS(0)
	for _, mailboxes := range []string{"spread", "one"} {
		for _, par := range []int{1, 2, 8, 32, 128} {
			depositors := par * procs
			b.Run(fmt.Sprintf("mailboxes=%s/depositors=%d", mailboxes, depositors), func(b *testing.B) {
				benchDeposit(b, par, mailboxes == "one")
			})
		}
	}
}

func benchDeposit(b *testing.B, parallelism int, oneBox bool) {
	l := DefaultLimits
	if oneBox {
		l.MaxEntries, l.MaxBytes = 1<<40, 1<<50
	}
	s, err := OpenBadgerStore(b.TempDir(), l, BadgerOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var shared ID
	rand.Read(shared[:])
	var unique atomic.Uint64
	b.SetParallelism(parallelism)
	b.SetBytes(1500)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		blob := make([]byte, 1500)
		rand.Read(blob)
		id := shared
		for n := 0; pb.Next(); n++ {
			if !oneBox && n%1000 == 0 {
				rand.Read(id[:])
			}
			binary.BigEndian.PutUint64(blob, unique.Add(1)) // no two alike: none is a repeat
			if _, err := s.Deposit(id, blob); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deposits/s")
}
