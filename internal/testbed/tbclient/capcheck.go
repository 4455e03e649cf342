package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"loam/internal/testbed/tbproto"
	"loam/mailbox"
	"loam/mixnet/directory"
)

// capCheck tries, at a replica, what a client without a mailbox's
// capability might: deposit into it and delete from it with requests that
// name the mailbox but are signed by another capability (SPEC.md §7.1).
// The owner first deposits an entry of its own; afterwards it must be
// there unchanged, and alone.
func capCheck(ctx context.Context, u *user) (*tbproto.Check, error) {
	owner, thief := newCapability(), newCapability()
	id := owner.ID()
	replicas, err := u.mb.Replicas(id)
	if err != nil {
		return nil, err
	}
	rep := replicas[0]
	blob := make([]byte, 64)
	rand.Read(blob)
	seq, err := u.mb.Deposit(ctx, rep, owner, blob)
	if err != nil {
		return nil, fmt.Errorf("the owner's own deposit: %w", err)
	}
	check := &tbproto.Check{Replica: rep.Name}

	deposit := mailbox.AppendDeposit(nil, thief, []byte("not yours"))
	copy(deposit[2:2+mailbox.IDLen], id[:])
	if check.Deposit, err = rawStatus(ctx, u, rep, deposit); err != nil {
		return nil, fmt.Errorf("forged deposit: %w", err)
	}
	del := mailbox.AppendDelete(nil, thief, seq)
	copy(del[2:2+mailbox.IDLen], id[:])
	if check.Delete, err = rawStatus(ctx, u, rep, del); err != nil {
		return nil, fmt.Errorf("forged delete: %w", err)
	}
	r, err := u.mb.Fetch(ctx, rep, id, 1, 255)
	if err != nil {
		return nil, fmt.Errorf("the owner's fetch: %w", err)
	}
	check.Intact = len(r.Entries) == 1 && r.Entries[0].Seq == seq && bytes.Equal(r.Entries[0].Blob, blob) && r.Head == seq+1
	return check, nil
}

func newCapability() mailbox.Capability {
	var seed [32]byte
	rand.Read(seed[:])
	return mailbox.NewCapability(seed)
}

// rawStatus sends a hand-made request to a replica, retrying while no
// answer comes, and returns the status it answers with.
func rawStatus(ctx context.Context, u *user, rep *directory.Descriptor, body []byte) (string, error) {
	wait := 3 * time.Second
	for range 6 {
		answer := make(chan []byte, 1)
		id, err := u.mc.Call(rep, mailbox.ServiceName, body, func(b []byte) {
			select {
			case answer <- b:
			default:
			}
		})
		if err != nil {
			return "", err
		}
		t := time.NewTimer(wait + u.mc.QueueDelay())
		select {
		case b := <-answer:
			t.Stop()
			r, err := mailbox.ParseReply(0x01, b) // a refusal parses the same for any op
			if err != nil {
				return "", err
			}
			return r.Status.String(), nil
		case <-t.C:
			u.mc.Forget(id)
		case <-ctx.Done():
			t.Stop()
			u.mc.Forget(id)
			return "", ctx.Err()
		}
		wait *= 2
	}
	return "", errors.New("no answer")
}
