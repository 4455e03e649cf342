// Package killtest runs a test's own binary again as a child process that
// does some durable work and reports it line by line, and kills it with
// SIGKILL in mid stream, as a crash would: the test then checks that
// nothing the child reported was lost.
package killtest

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// Run starts the test binary running only the test named test, with env
// added to its environment (the test recognises it and plays the child),
// hands every line the child prints to line, and kills the child once line
// reports enough. It fails tb unless the child died of that kill.
func Run(tb testing.TB, test string, env []string, line func(string) (enough bool)) {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), env...), "GORACE=atexit_sleep_ms=0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	killed := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if !killed && line(sc.Text()) {
			cmd.Process.Signal(syscall.SIGKILL) // in mid stream: more lines are on their way
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		tb.Fatalf("killtest: the child ended before it was killed (%v): %s", err, stderr.Bytes())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		tb.Fatalf("killtest: child: %v, want death by SIGKILL: %s", err, stderr.Bytes())
	}
}
