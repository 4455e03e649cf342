package mailbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"loam/internal/clock"
	"loam/internal/xrand"
	"loam/mixnet"
	"loam/mixnet/directory"
	"loam/onion"
)

// Client reaches mailbox replicas through the mixnet. Every request goes out
// as a real packet with its own single-use reply block; a request whose
// answer does not come back in time is sent again on a fresh path with a
// fresh reply block, after a randomized wait that grows with each attempt.
// Waits are never fixed: a retransmission on a fixed timer would let the
// gateway match it to the original (the fault of Katzenpost #199).
type Client struct {
	mc     *mixnet.Client
	clock  clock.Clock
	policy RetryPolicy
}

// RetryPolicy shapes retransmission.
type RetryPolicy struct {
	// Attempts is how many times a request is sent before giving up.
	Attempts int
	// Base is the first wait for an answer, counted from when the request
	// leaves the client; each wait is drawn uniformly from [w, 2w) with w
	// doubling every attempt up to Max.
	Base, Max time.Duration
	// QueueDelay, if set, estimates how long a packet waits in the client's
	// real-or-drop queue before it leaves; it is added to every wait.
	QueueDelay func() time.Duration
}

// DefaultRetryPolicy suits the default network: eight attempts over about
// eight minutes at most.
var DefaultRetryPolicy = RetryPolicy{Attempts: 8, Base: 3 * time.Second, Max: 60 * time.Second}

// ErrNoAnswer means no attempt of a request got an answer.
var ErrNoAnswer = errors.New("mailbox: no answer from the replica; it may be down or the network is losing packets")

// ErrReadOnly means a deposit or delete was asked of a read-only capability.
var ErrReadOnly = errors.New("mailbox: the capability is read-only")

// StatusError is a replica's refusal.
type StatusError struct{ Status Status }

func (e *StatusError) Error() string { return "mailbox: replica refused: " + e.Status.String() }

// NewClient returns a mailbox client over mc.
func NewClient(mc *mixnet.Client, c clock.Clock, policy RetryPolicy) *Client {
	if c == nil {
		c = clock.Real()
	}
	if policy.Attempts <= 0 {
		policy = DefaultRetryPolicy
	}
	return &Client{mc: mc, clock: c, policy: policy}
}

// Geometry is the network's packet geometry.
func (c *Client) Geometry() onion.Geometry { return c.mc.Geometry() }

// Replicas returns the replica set of id in the current directory.
func (c *Client) Replicas(id ID) ([]*directory.Descriptor, error) {
	doc, err := c.mc.Document()
	if err != nil {
		return nil, err
	}
	r := Replicas(doc, id, doc.Params.Replicas)
	if len(r) == 0 {
		return nil, fmt.Errorf("mailbox: the directory of epoch %d lists no mailbox replica", doc.Epoch)
	}
	return r, nil
}

// Deposit stores blob in c's mailbox at replica and returns its sequence
// number there once the replica has it durably.
func (c *Client) Deposit(ctx context.Context, replica *directory.Descriptor, cp Capability, blob []byte) (uint64, error) {
	if !cp.CanWrite() {
		return 0, ErrReadOnly
	}
	if len(blob) > MaxBlob(c.Geometry()) {
		return 0, fmt.Errorf("mailbox: blob of %d bytes exceeds %d", len(blob), MaxBlob(c.Geometry()))
	}
	r, err := c.do(ctx, replica, opDeposit, AppendDeposit(nil, cp, blob))
	if err != nil {
		return 0, err
	}
	return r.Seq, nil
}

// Fetch returns entries of id at replica from cursor on (as many as one
// answer holds, at most max), the cursor to continue from and the replica's
// head.
func (c *Client) Fetch(ctx context.Context, replica *directory.Descriptor, id ID, cursor uint64, max int) (*Reply, error) {
	return c.do(ctx, replica, opFetch, AppendFetch(nil, id, cursor, max))
}

// Delete removes every entry up to and including upTo from c's mailbox at
// replica.
func (c *Client) Delete(ctx context.Context, replica *directory.Descriptor, cp Capability, upTo uint64) (uint64, error) {
	if !cp.CanWrite() {
		return 0, ErrReadOnly
	}
	r, err := c.do(ctx, replica, opDelete, AppendDelete(nil, cp, upTo))
	if err != nil {
		return 0, err
	}
	return r.Deleted, nil
}

// do sends a request until an answer comes or the attempts run out. An
// "unavailable" answer counts as none: another attempt may find the replica
// well again.
func (c *Client) do(ctx context.Context, replica *directory.Descriptor, op byte, body []byte) (*Reply, error) {
	wait := c.policy.Base
	var last error = ErrNoAnswer
	for attempt := 0; attempt < c.policy.Attempts; attempt++ {
		answer := make(chan []byte, 1)
		id, err := c.mc.Call(replica, ServiceName, body, func(b []byte) {
			select {
			case answer <- b:
			default:
			}
		})
		if err != nil {
			return nil, fmt.Errorf("mailbox: sending to %s: %w", replica.Name, err)
		}
		timeout := wait + time.Duration(xrand.Float64()*float64(wait))
		if c.policy.QueueDelay != nil {
			timeout += c.policy.QueueDelay()
		}
		select {
		case b := <-answer:
			r, err := ParseReply(op, b)
			if err != nil {
				return nil, fmt.Errorf("mailbox: answer from %s: %w", replica.Name, err)
			}
			if r.Status == StatusUnavailable {
				last = &StatusError{r.Status}
				if !c.sleep(ctx, timeout) {
					return nil, ctx.Err()
				}
				break
			}
			if r.Status != StatusOK {
				return nil, &StatusError{r.Status}
			}
			return r, nil
		case <-c.after(timeout):
			c.mc.Forget(id)
		case <-ctx.Done():
			c.mc.Forget(id)
			return nil, ctx.Err()
		}
		wait = min(2*wait, c.policy.Max)
	}
	return nil, fmt.Errorf("mailbox: %s after %d attempts: %w", replica.Name, c.policy.Attempts, last)
}

func (c *Client) after(d time.Duration) <-chan struct{} {
	ch := make(chan struct{})
	c.clock.AfterFunc(d, func() { close(ch) })
	return ch
}

func (c *Client) sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-c.after(d):
		return true
	case <-ctx.Done():
		return false
	}
}
