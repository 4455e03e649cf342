package mailbox_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"math"
	mrand "math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"loam/internal/testnet"
	"loam/internal/xrand"
	"loam/mailbox"
	"loam/mixnet"
	"loam/onion"
)

// lossyLinks makes each node drop 5 % of the packets it sends on a random
// half of its links.
func lossyLinks(loss float64) func(cfg *mixnet.Config) {
	return func(cfg *mixnet.Config) {
		var mu sync.Mutex
		lossy := map[onion.NodeID]bool{}
		cfg.DropOutgoing = func(next onion.NodeID) bool {
			mu.Lock()
			l, ok := lossy[next]
			if !ok {
				l = xrand.IntN(2) == 0
				lossy[next] = l
			}
			mu.Unlock()
			return l && xrand.Float64() < loss
		}
	}
}

func mailboxNetwork(t *testing.T, node func(*mixnet.Config)) *testnet.Network {
	t.Helper()
	return mailboxNetworkWith(t, node, nil)
}

// mailboxNetworkWith is mailboxNetwork whose replica i keeps its blobs in
// store(i, a memory store) when store is set: a test's wrapper.
func mailboxNetworkWith(t *testing.T, node func(*mixnet.Config), store func(int, mailbox.Store) mailbox.Store) *testnet.Network {
	t.Helper()
	// Epochs of 15 s rather than the test default of 5: the 1,000-message
	// test runs for minutes beside other heavy tests, and the authorities'
	// rounds of a 5-s epoch can starve on a loaded 2-core machine. It still
	// crosses many epoch boundaries under load.
	p := testnet.TestParameters()
	p.EpochPeriod, p.Grace = 15*time.Second, 5*time.Second
	return testnet.Start(t, testnet.Options{
		ServiceNodes: 3, Params: p,
		Services: func(i int) map[string]mixnet.Service {
			var st mailbox.Store = mailbox.NewMemoryStore(mailbox.DefaultLimits, nil)
			if store != nil {
				st = store(i, st)
			}
			svc := mailbox.NewService(st, onion.DefaultGeometry, 4, 4096, nil)
			t.Cleanup(svc.Close)
			return map[string]mixnet.Service{mailbox.ServiceName: svc}
		},
		Node: node,
	})
}

func testPolicy() mailbox.RetryPolicy {
	return mailbox.RetryPolicy{Attempts: 12, Base: 400 * time.Millisecond, Max: 4 * time.Second}
}

// logUniform draws a size between 1 byte and max, uniform in its logarithm,
// so small and large messages are both well represented.
func logUniform(max int) int {
	return int(math.Exp(mrand.Float64() * math.Log(float64(max))))
}

// TestMessagesExactlyOnceOverLossyNetworkIntegration: messages of random sizes (1 B
// to 200 KiB) from one client to another, through three replicas, while a
// random half of all links lose 5 % of their packets. Every message arrives
// exactly once and intact. LOAM_MESSAGES sets the count (default 1000).
func TestMessagesExactlyOnceOverLossyNetworkIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("heavy integration test: run by make test's integration step")
	}
	count := 1000
	if s := os.Getenv("LOAM_MESSAGES"); s != "" {
		count, _ = strconv.Atoi(s)
	}
	network := mailboxNetwork(t, lossyLinks(lossRate()))
	alice, bob := network.NewClient(t), network.NewClient(t)
	network.WaitReady(t, alice)
	network.WaitReady(t, bob)
	sender := mailbox.NewClient(alice, nil, testPolicy())
	receiver := mailbox.NewClient(bob, nil, testPolicy())

	var seed [32]byte
	rand.Read(seed[:])
	box := &mailbox.Box{Cap: mailbox.NewCapability(seed)}
	rand.Read(box.Key[:])

	want := map[[32]byte]int{} // content hash → copies sent
	var wantMu sync.Mutex
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	sendErr := make(chan error, 1)
	go func() {
		var wg sync.WaitGroup
		slots := make(chan struct{}, 32)
		for range count {
			msg := make([]byte, logUniform(200<<10))
			rand.Read(msg)
			wantMu.Lock()
			want[sha256.Sum256(msg)]++
			wantMu.Unlock()
			wg.Add(1)
			slots <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				if _, err := sender.Send(ctx, box, msg, nil); err != nil {
					select {
					case sendErr <- err:
					default:
					}
				}
			}()
		}
		wg.Wait()
		close(sendErr)
	}()

	got := map[mailbox.MessageID]bool{}
	rcv := receiver.NewReceiver(box)
	sendsDone := false
	for len(got) < count {
		if ctx.Err() != nil {
			network.LogState(t, alice, bob)
			t.Fatalf("%d of %d messages arrived before the deadline", len(got), count)
		}
		if !sendsDone {
			select {
			case err, ok := <-sendErr:
				if ok && err != nil {
					network.LogState(t, alice, bob)
					t.Fatalf("send: %v", err)
				}
				sendsDone = !ok
			default:
			}
		}
		msgs, _ := rcv.Sync(ctx) // unanswered replicas are retried next round
		for _, m := range msgs {
			if got[m.ID] {
				t.Fatalf("message %v delivered twice", m.ID)
			}
			got[m.ID] = true
			h := sha256.Sum256(m.Body)
			wantMu.Lock()
			n := want[h]
			if n == 0 {
				wantMu.Unlock()
				t.Fatalf("message %v of %d bytes was never sent (corrupt?)", m.ID, len(m.Body))
			}
			want[h] = n - 1
			wantMu.Unlock()
		}
		time.Sleep(50 * time.Millisecond) // the receiver polls; a test pacing, not protocol time
	}
	// A last sync after everything arrived delivers nothing again.
	if msgs, _ := rcv.Sync(ctx); len(msgs) != 0 {
		t.Fatalf("%d messages delivered again", len(msgs))
	}
}

func lossRate() float64 {
	if s := os.Getenv("LOAM_LOSS"); s != "" {
		v, _ := strconv.ParseFloat(s, 64)
		return v
	}
	return 0.05
}
