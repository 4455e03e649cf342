package mailbox_test

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"loam/mailbox"
)

// TestDeliverHookKeepsRefusedMessages: a message whose Deliver fails stays
// on the replicas and comes again at the next Sync; once taken it is
// deleted and never delivered again.
func TestDeliverHookKeepsRefusedMessages(t *testing.T) {
	network := mailboxNetwork(t, nil)
	alice, bob := network.NewClient(t), network.NewClient(t)
	network.WaitReady(t, alice)
	network.WaitReady(t, bob)
	sender, receiver := mailbox.NewClient(alice, nil, testPolicy()), mailbox.NewClient(bob, nil, testPolicy())
	var seed [32]byte
	rand.Read(seed[:])
	box := &mailbox.Box{Cap: mailbox.NewCapability(seed)}
	rand.Read(box.Key[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id, err := sender.Send(ctx, box, []byte("keep me"), nil)
	if err != nil {
		t.Fatal(err)
	}
	rcv := receiver.NewReceiver(box)
	refuse := true
	var taken []mailbox.Message
	rcv.Deliver = func(m mailbox.Message) error {
		if refuse {
			return errors.New("disk full")
		}
		taken = append(taken, m)
		return nil
	}
	if msgs, _ := rcv.Sync(ctx); len(msgs) != 0 {
		t.Fatal("a refused message was returned")
	}
	refuse = false
	if msgs, _ := rcv.Sync(ctx); len(msgs) != 1 || msgs[0].ID != id || len(taken) != 1 {
		t.Fatalf("the refused message did not come again: %d returned, %d taken", len(msgs), len(taken))
	}
	if msgs, _ := rcv.Sync(ctx); len(msgs) != 0 {
		t.Fatal("delivered twice")
	}
	fresh := receiver.NewReceiver(box) // a new process: nothing is left to read
	if msgs, _ := fresh.Sync(ctx); len(msgs) != 0 {
		t.Fatalf("%d messages left on the replicas after delivery", len(msgs))
	}
}
