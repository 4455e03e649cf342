//go:build unix

package demo

import (
	"context"
	"testing"
	"time"
)

// TestDemoIntegration is the demo scenario as an end-to-end test: real
// loam-node processes, the loam CLI as Alice and Bob, a post with a 200 KiB
// picture delivered through the mixnet and read back intact.
func TestDemoIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("heavy integration test: run by make test's integration step")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Options{Dir: t.TempDir(), Out: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Delivered {
		t.Fatalf("Bob did not read Alice's post intact: %+v", rep)
	}
	if rep.Real == 0 || rep.Cover == 0 {
		t.Fatalf("traffic not reported: %+v", rep)
	}
	t.Logf("post to read %v, %d real and %d cover packets", rep.PostToRead, rep.Real, rep.Cover)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(b))
	return len(b), nil
}
