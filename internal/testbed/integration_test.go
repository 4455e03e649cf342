//go:build linux

package testbed

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestTestbedIntegration runs the short version of every scenario and
// security check in a bed of network namespaces: it needs root and
// iproute2, which CI has, and fails — it does not skip — without them.
// Set LOAM_TESTBED_ONLY to a comma-separated list of ids to run some.
func TestTestbedIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("the test bed runs in make test's integration step")
	}
	if err := RequireRoot(); err != nil {
		t.Fatalf("%v\nThe test bed needs root and iproute2 (CI runs as root and .ci/run installs iproute2).", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	o := Options{Dir: t.TempDir(), Out: testWriter{t}}
	if only := os.Getenv("LOAM_TESTBED_ONLY"); only != "" {
		o.Only = strings.Split(only, ",")
	}
	rep, err := Run(ctx, o)
	if rep != nil {
		t.Logf("\n%s", rep.Text())
	}
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Pass() {
		t.Fatalf("the test bed failed:\n%s", strings.Join(rep.Failures(), "\n"))
	}
	names, err := listNamespaces()
	if err != nil {
		t.Fatal(err)
	}
	own := nsName(os.Getpid(), "")
	for _, n := range names {
		if strings.HasPrefix(n, own) {
			t.Errorf("namespace %s left behind", n)
		}
	}
}

// testWriter sends progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
