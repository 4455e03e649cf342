package testnet

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"loam/mixnet"
	"loam/onion"
)

// EchoRound sends n echo requests from c on random paths, each carrying a
// fresh SURB, and waits up to timeout for the answers to come back; it
// fails the test on a wrong or repeated answer and returns how many came
// back intact.
func EchoRound(t testing.TB, c *mixnet.Client, n int, timeout time.Duration) int {
	t.Helper()
	services, err := c.Services("echo")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[onion.SURBID]*onion.SURBKeys{}
	want := map[onion.SURBID][]byte{}
	for i := range n {
		body := fmt.Appendf(nil, "echo %d", i)
		pkt, k, err := c.NewRequest(services[i%len(services)], "echo", body)
		if err != nil {
			t.Fatal(err)
		}
		keys[k.ID], want[k.ID] = k, body
		for c.Send(pkt) != nil { // the queue is full: let the link drain it
			time.Sleep(time.Millisecond)
		}
	}
	got := 0
	deadline := time.After(timeout)
	for got < n {
		select {
		case r := <-c.Replies():
			k := keys[r.ID]
			if k == nil {
				t.Fatalf("reply for an unknown or used SURB %v", r.ID)
			}
			delete(keys, r.ID)
			body, err := c.Geometry().OpenReply(k, r.Sealed)
			if err != nil {
				t.Fatalf("opening reply: %v", err)
			}
			if !bytes.HasPrefix(body, want[r.ID]) || body[len(want[r.ID])] != 0 {
				t.Fatalf("reply %q, want %q", body[:16], want[r.ID])
			}
			got++
		case <-deadline:
			return got
		}
	}
	return got
}
