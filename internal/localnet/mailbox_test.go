//go:build unix

package localnet_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"loam/internal/localnet"
	"loam/mailbox"
	"loam/mixnet/directory"
)

// TestProcessMailboxReplicas runs a network whose three service nodes are
// mailbox replicas (loam-node processes with badger stores) and talks to
// it from this process through a mailbox.Client:
//
//   - deposits acknowledged by a replica are all there, intact and under
//     their numbers, after it is killed with SIGKILL right after the last
//     acknowledgement and restarted; messages sent before the kill are all
//     read back;
//   - with one of the three replicas killed for good, messages sent with
//     parity ⌈k/2⌉ are all still readable from the other two.
func TestProcessMailboxReplicas(t *testing.T) {
	bin := loamNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	layout, err := localnet.Generate(localnet.Spec{Dir: t.TempDir(), Bin: bin, ServiceNodes: 3,
		Services: func(int) []string { return []string{mailbox.ServiceName} }})
	if err != nil {
		t.Fatal(err)
	}
	network, err := layout.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { network.StopAll() })
	waitReady(t, ctx, network)
	client := mailbox.NewClient(newClient(t, ctx, layout), nil,
		mailbox.RetryPolicy{Attempts: 5, Base: 400 * time.Millisecond, Max: 1600 * time.Millisecond})

	t.Run("AcknowledgedSurvivesSIGKILL", func(t *testing.T) {
		direct, messages := newBox(t), newBox(t)
		replicas, err := client.Replicas(direct.Cap.ID())
		if err != nil || len(replicas) != 3 {
			t.Fatalf("replica set %v: %v", replicas, err)
		}
		victim := replicas[0]
		name := layout.NodeByID(victim.ID()).Name

		sent := sendMessages(t, ctx, client, messages, 8, 6<<10, nil)
		acked := depositAll(t, ctx, client, victim, direct.Cap, 48)
		if err := network.Kill(name); err != nil { // right after the last acknowledgement
			t.Fatal(err)
		}
		if err := network.Restart(name); err != nil {
			t.Fatal(err)
		}
		waitReady(t, ctx, network)

		got := fetchAll(t, ctx, client, victim, direct.Cap.ID())
		for seq, blob := range acked {
			if !bytes.Equal(got[seq], blob) {
				t.Fatalf("%s acknowledged seq %d but after SIGKILL holds %q", name, seq, got[seq])
			}
		}
		if len(got) != len(acked) {
			t.Fatalf("%s holds %d entries, %d acknowledged", name, len(got), len(acked))
		}
		receiveAll(t, ctx, client, messages, sent)
	})

	t.Run("OneReplicaDown", func(t *testing.T) {
		box := newBox(t)
		half := func(k int) int { return (k + 1) / 2 }
		sent := sendMessages(t, ctx, client, box, 12, 20<<10, half)
		replicas, err := client.Replicas(box.Cap.ID())
		if err != nil {
			t.Fatal(err)
		}
		name := layout.NodeByID(replicas[1].ID()).Name
		if err := network.Kill(name); err != nil {
			t.Fatal(err)
		}
		receiveAll(t, ctx, client, box, sent)
	})
}

func newBox(t *testing.T) *mailbox.Box {
	t.Helper()
	var seed [32]byte
	rand.Read(seed[:])
	box := &mailbox.Box{Cap: mailbox.NewCapability(seed)}
	rand.Read(box.Key[:])
	return box
}

// sendMessages sends n messages of 1 byte up to largest bytes (sizes spread
// evenly) into box, with the parity given, and returns their hashes.
func sendMessages(t *testing.T, ctx context.Context, c *mailbox.Client, box *mailbox.Box, n, largest int, parity func(int) int) map[[32]byte]bool {
	t.Helper()
	sent := map[[32]byte]bool{}
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	for i := range n {
		msg := make([]byte, 1+i*(largest-1)/max(n-1, 1))
		rand.Read(msg)
		sent[sha256.Sum256(msg)] = true
		wg.Go(func() {
			if _, err := c.Send(ctx, box, msg, parity); err != nil {
				mu.Lock()
				defer mu.Unlock()
				t.Errorf("sending a message of %d bytes: %v", len(msg), err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return sent
}

// receiveAll reads box until every message of sent has arrived once.
func receiveAll(t *testing.T, ctx context.Context, c *mailbox.Client, box *mailbox.Box, sent map[[32]byte]bool) {
	t.Helper()
	r := c.NewReceiver(box)
	got := map[[32]byte]bool{}
	deadline := time.Now().Add(45 * time.Second)
	for len(got) < len(sent) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages read back", len(got), len(sent))
		}
		msgs, _ := r.Sync(ctx) // a replica that is down is skipped, and named in the error
		for _, m := range msgs {
			h := sha256.Sum256(m.Body)
			if !sent[h] || got[h] {
				t.Fatalf("message %v of %d bytes: not sent, or delivered twice", m.ID, len(m.Body))
			}
			got[h] = true
		}
	}
}

// depositAll deposits n distinct blobs at the replica, 16 at a time, and
// returns what it acknowledged: blob by sequence number.
func depositAll(t *testing.T, ctx context.Context, c *mailbox.Client, rep *directory.Descriptor, cp mailbox.Capability, n int) map[uint64][]byte {
	t.Helper()
	acked := map[uint64][]byte{}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		slots = make(chan struct{}, 16)
	)
	for i := range n {
		blob := fmt.Appendf(nil, "blob %d %x", i, sha256.Sum256(fmt.Append(nil, i)))
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			seq, err := c.Deposit(ctx, rep, cp, blob)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("deposit %d: %v", i, err)
				return
			}
			if prev := acked[seq]; prev != nil {
				t.Errorf("seq %d acknowledged for two blobs", seq)
			}
			acked[seq] = blob
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return acked
}

// fetchAll reads every entry the replica holds for id.
func fetchAll(t *testing.T, ctx context.Context, c *mailbox.Client, rep *directory.Descriptor, id mailbox.ID) map[uint64][]byte {
	t.Helper()
	got := map[uint64][]byte{}
	for cursor := uint64(1); ; {
		r, err := c.Fetch(ctx, rep, id, cursor, 255)
		if err != nil {
			t.Fatalf("fetch from %d: %v", cursor, err)
		}
		for _, e := range r.Entries {
			got[e.Seq] = e.Blob
		}
		if len(r.Entries) == 0 || r.Next >= r.Head {
			return got
		}
		cursor = r.Next
	}
}
