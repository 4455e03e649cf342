package main

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"loam/cmd/loam-node/nodeconfig"
)

// TestMain lets the scripts exec loam-node: testscript runs this test
// binary under that name, and it runs Main in the child process.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"loam-node": func() { os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs testdata/script/*.txtar: init for every role, refusing
// to overwrite, --force, show, usage and configuration errors with their
// exit statuses, and an authority run until SIGINT.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			// A race-enabled binary sleeps a second at exit by default,
			// which every exec in the scripts would pay.
			env.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode": cmdExitCode,
			"mode":     cmdMode,
			"freeport": cmdFreePort,
			"httpget":  cmdHTTPGet,
			"trust":    cmdTrust,
			"enable":   cmdEnableTor,
		},
	})
}

// exitcode N command args...: run command and require exit status N.
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: %v", err)
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exitcode: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("exit status %d, want %d", got, want)
	}
}

// mode PERM file: require the file's permission bits (octal).
func cmdMode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: mode PERM file")
	}
	want, err := strconv.ParseUint(args[0], 8, 32)
	if err != nil {
		ts.Fatalf("mode: %v", err)
	}
	fi, err := os.Stat(ts.MkAbs(args[1]))
	ts.Check(err)
	if got := fi.Mode().Perm(); (uint64(got) == want) == neg {
		ts.Fatalf("%s has mode %04o; want %s%04o", args[1], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

// freeport VAR: set VAR to a free port on 127.0.0.1, picked below the
// ephemeral range so that no outgoing connection takes it meanwhile.
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport VAR")
	}
	for range 1000 {
		p := 20000 + rand.IntN(12000)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		ln.Close()
		ts.Setenv(args[0], strconv.Itoa(p))
		return
	}
	ts.Fatalf("freeport: no free port")
}

// httpget URL: poll URL for up to 20 s until it answers 200 and make the
// body the stdout that follows.
func cmdHTTPGet(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: httpget URL")
	}
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		resp, err := client.Get(args[0])
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				ts.Stdout().Write(body)
				return
			}
			err = fmt.Errorf("%s: %s", resp.Status, body)
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	ts.Fatalf("httpget %s: %v", args[0], last)
}

// TestServicesMatchConfig: every service the configuration accepts has an
// implementation.
func TestServicesMatchConfig(t *testing.T) {
	for _, name := range nodeconfig.KnownServices {
		if _, ok := services[name]; !ok {
			t.Errorf("service %q is accepted by the configuration but not implemented", name)
		}
	}
	if len(services) != len(nodeconfig.KnownServices) {
		t.Errorf("%d services implemented, %d known to the configuration", len(services), len(nodeconfig.KnownServices))
	}
}

// trust NODE AUTHORITY: make the node's configuration trust the authority
// (and only it), as an operator pastes the authority's entry.
func cmdTrust(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: trust node.toml authority.toml")
	}
	node, err := nodeconfig.Parse(ts.MkAbs(args[0]))
	ts.Check(err)
	auth, err := nodeconfig.Parse(ts.MkAbs(args[1]))
	ts.Check(err)
	node.Directory.Authorities = auth.Directory.Authorities
	ts.Check(node.Write(ts.MkAbs(args[0]), true))
}

// enable GATEWAY: turn on the gateway's [tor] with a tor program that does
// not exist, so that nothing reaches the Tor network.
func cmdEnableTor(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: enable node.toml")
	}
	f, err := nodeconfig.Parse(ts.MkAbs(args[0]))
	ts.Check(err)
	f.Tor.Enabled, f.Tor.Path = true, "/nonexistent/tor"
	ts.Check(f.Write(ts.MkAbs(args[0]), true))
}
