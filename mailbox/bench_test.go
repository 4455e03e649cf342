package mailbox_test

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"loam/internal/testnet"
	"loam/mailbox"
	"loam/mixnet"
	"loam/onion"
)

// BenchmarkMessageThroughput measures end-to-end message delivery between
// two clients at zero mixing delay (μ⁻¹ = 1 µs, the least a directory
// allows) through three in-process replicas: 16 KiB messages, each sealed,
// coded into 12 + 3 fragments, deposited with acknowledgements, fetched,
// rebuilt and deleted. Reports messages/s; bytes/s is the MB/s column.
func BenchmarkMessageThroughput(b *testing.B) {
	const size = 16 << 10
	p := testnet.TestParameters()
	p.Mu = time.Microsecond
	network := testnet.Start(b, testnet.Options{
		ServiceNodes: 3, Params: p,
		Services: func(int) map[string]mixnet.Service {
			svc := mailbox.NewService(mailbox.NewMemoryStore(mailbox.DefaultLimits, nil), onion.DefaultGeometry, 4, 4096, nil)
			b.Cleanup(svc.Close)
			return map[string]mixnet.Service{mailbox.ServiceName: svc}
		},
	})
	alice, bob := network.NewClient(b), network.NewClient(b)
	network.WaitReady(b, alice)
	network.WaitReady(b, bob)
	policy := mailbox.RetryPolicy{Attempts: 8, Base: time.Second, Max: 8 * time.Second}
	sender, receiver := mailbox.NewClient(alice, nil, policy), mailbox.NewClient(bob, nil, policy)
	var seed [32]byte
	rand.Read(seed[:])
	box := &mailbox.Box{Cap: mailbox.NewCapability(seed)}
	rand.Read(box.Key[:])
	msg := make([]byte, size)
	rand.Read(msg)
	ctx := context.Background()

	b.SetBytes(size)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	slots := make(chan struct{}, 16)
	for range b.N {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			if _, err := sender.Send(ctx, box, msg, nil); err != nil {
				b.Error(err)
			}
		}()
	}
	rcv := receiver.NewReceiver(box)
	got := 0
	for got < b.N {
		msgs, _ := rcv.Sync(ctx)
		got += len(msgs)
		if time.Since(start) > 10*time.Minute {
			b.Fatalf("%d of %d messages after 10 minutes", got, b.N)
		}
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "messages/s")
}
