package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"loam/internal/testbed/tbproto"
)

// TestHandleRefusesBadRequests: requests naming no person or an unknown
// operation get an error response, not a panic; the clock moves.
func TestHandleRefusesBadRequests(t *testing.T) {
	clk := &offsetClock{}
	for _, req := range []tbproto.Request{
		{ID: 1, Op: tbproto.OpPost, User: 0},
		{ID: 2, Op: tbproto.OpSync, User: -1},
		{ID: 3, Op: "dance", User: 0},
	} {
		resp := handle(context.Background(), nil, clk, req)
		if resp.OK || resp.Err == "" || resp.ID != req.ID {
			t.Errorf("%+v: got %+v", req, resp)
		}
	}
	resp := handle(context.Background(), nil, clk, tbproto.Request{ID: 4, Op: tbproto.OpClock, OffsetMS: 90_000})
	if !resp.OK {
		t.Fatalf("clock: %+v", resp)
	}
	if d := time.Until(clk.Now()); d < 89*time.Second || d > 91*time.Second {
		t.Fatalf("clock runs %v ahead, want 90s", d)
	}
}

// TestParseVia reads -via's pairs and skips malformed ones.
func TestParseVia(t *testing.T) {
	got := parseVia("10.0.0.1:7100=10.0.0.9:7100,junk,10.0.0.2:7100=10.0.0.9:7101")
	if len(got) != 2 || got["10.0.0.1:7100"] != "10.0.0.9:7100" || got["10.0.0.2:7100"] != "10.0.0.9:7101" {
		t.Fatalf("got %v", got)
	}
}

// FuzzRequest: no request line makes decoding or handling panic.
func FuzzRequest(f *testing.F) {
	f.Add(`{"id":1,"op":"post","user":0,"text":"hi","attach":3}`)
	f.Add(`{"id":2,"op":"clock","offset_ms":-5}`)
	f.Add(`{"op":"sync","user":99999999999}`)
	f.Add(`[`)
	f.Fuzz(func(t *testing.T, line string) {
		var req tbproto.Request
		if json.NewDecoder(strings.NewReader(line)).Decode(&req) != nil {
			return
		}
		handle(context.Background(), nil, &offsetClock{}, req)
	})
}
