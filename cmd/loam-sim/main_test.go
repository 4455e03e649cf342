package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const tinyScenario = `
name = "cli"
duration = "8s"
warmup = "1s"
[topology]
layers = 2
mixes_per_layer = 2
gateways = 2
services = 1
[users]
count = 10
friends = 2
posts_per_hour = 360
[adversary]
samples = 20
challenges = 20
posts = 20
targets = 2
checkpoints = 4
`

func writeScenario(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s.toml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRun(t *testing.T) {
	sc := writeScenario(t, tinyScenario)
	out := filepath.Join(t.TempDir(), "report")
	var stdout, stderr bytes.Buffer
	// Flags after the scenario, as the usage shows them.
	if code := Main(context.Background(), []string{"run", sc, "--out", out}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, f := range []string{"report.md", "metrics.json", "mixes.csv", "mix_entropy.png", "disclosure.png", "latency.png"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Fatalf("%s: %v", f, err)
		}
	}
	if !strings.Contains(stdout.String(), "report: ") || !strings.Contains(stdout.String(), "model crypto") {
		t.Fatalf("stdout: %s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "simulating cli") {
		t.Fatalf("no progress bar on stderr: %q", stderr.String())
	}
}

func TestSweep(t *testing.T) {
	sc := writeScenario(t, tinyScenario)
	out := filepath.Join(t.TempDir(), "sweep")
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"sweep", "--param", "rates.mu", "--values", "10, 40", "--out", out, "--quiet", sc}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(out, "sweep.md")); err != nil {
		t.Fatal(err)
	}
	if stderr.Len() != 0 {
		t.Fatalf("--quiet wrote to stderr: %q", stderr.String())
	}
}

func TestUsageErrors(t *testing.T) {
	good := writeScenario(t, tinyScenario)
	bad := writeScenario(t, "[rates]\nmu = -3\n")
	unknown := writeScenario(t, "[users]\nfrends = 3\n")
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "Usage"},
		{[]string{"fly"}, `unknown command "fly"`},
		{[]string{"run"}, "scenario file is required"},
		{[]string{"run", good}, "--out DIR is required"},
		{[]string{"run", bad, "--out", t.TempDir()}, "rates.mu"},
		{[]string{"run", unknown, "--out", t.TempDir()}, "users.frends"},
		{[]string{"run", filepath.Join(t.TempDir(), "none.toml"), "--out", t.TempDir()}, "no such file"},
		{[]string{"run", good, "--out", t.TempDir(), "extra"}, `unexpected argument "extra"`},
		{[]string{"sweep", good, "--out", t.TempDir()}, "--param and --values are required"},
		{[]string{"sweep", good, "--out", t.TempDir(), "--param", "rates.nope", "--values", "1"}, "rates.nope"},
		{[]string{"sweep", good, "--out", t.TempDir(), "--param", "topology.layers", "--values", "1,x"}, "topology.layers"},
	} {
		var stdout, stderr bytes.Buffer
		if code := Main(context.Background(), c.args, &stdout, &stderr); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", c.args, code, exitUsage)
		}
		if !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: stderr %q lacks %q", c.args, stderr.String(), c.want)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), []string{"--help"}, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "loam-sim run") {
		t.Fatalf("--help: %d %q", code, stdout.String())
	}
}

// An interrupted run (SIGINT cancels the context) fails with status 1.
func TestRunInterrupted(t *testing.T) {
	sc := writeScenario(t, tinyScenario)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	if code := Main(ctx, []string{"run", sc, "--out", t.TempDir(), "--quiet"}, &stdout, &stderr); code != exitFailure {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
}
