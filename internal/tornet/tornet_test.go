package tornet

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMissingTorNamesPackage(t *testing.T) {
	_, err := StartWith(context.Background(), Options{Dir: t.TempDir(), TorPath: "/nonexistent/bin/tor"})
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("err %v, want ErrNotInstalled", err)
	}
	if !strings.Contains(err.Error(), "apt-get install tor") {
		t.Fatalf("error %q does not say how to install tor", err)
	}
}

func TestRefusesNonEmptyDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("err %v, want a refusal of the non-empty directory", err)
	}
}

// TestNetwork starts a private network, checks it from the outside (the
// torrcs on disk, the processes, the client's SOCKS port) and stops it the
// way scripts/tornet stop does: from the saved description, by PidFile.
// Without Debian's tor it fails with the hint to install it.
func TestNetwork(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("LOAM_TOR_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	n, err := StartWith(context.Background(), Options{Dir: dir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Stop(); err != nil {
			t.Error(err)
		}
	})
	t.Logf("consensus after %s, client bootstrapped after %s, through the exit after %s", n.Consensus.Round(time.Millisecond),
		n.Bootstrapped.Round(time.Millisecond), n.Exit.Round(time.Millisecond))
	if len(n.Nodes) != Authorities+defaultRelays+1 {
		t.Fatalf("%d nodes", len(n.Nodes))
	}

	for _, node := range n.Nodes {
		b, err := os.ReadFile(node.Torrc())
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckPrivate(strings.Split(string(b), "\n")); err != nil {
			t.Errorf("%s's torrc on disk: %v", node.Name, err)
		}
		pid, err := readPID(node)
		if err != nil {
			t.Fatalf("%s: %v", node.Name, err)
		}
		if pid != node.proc.pid || !runs(pid, node) {
			t.Errorf("%s: PidFile says %d, started %d, running %t", node.Name, pid, node.proc.pid, runs(pid, node))
		}
	}
	for _, st := range n.Status() {
		if !st.Running {
			t.Errorf("status: %s not running", st.Name)
		}
		if st.Role == RoleAuthority && st.Detail != "consensus published" {
			t.Errorf("status: %s: %s", st.Name, st.Detail)
		}
		if st.Role == RoleClient && !strings.Contains(st.Detail, "100%") {
			t.Errorf("status: client: %s", st.Detail)
		}
	}
	socksHandshake(t, n.SocksAddr())
	if !exitWorks(context.Background(), n.SocksAddr()) {
		t.Error("no stream through the exit to a listener on 127.0.0.1")
	}

	loaded, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(loaded.ClientTorrc(), n.ClientTorrc()) {
		t.Fatalf("loaded network's client torrc differs:\n%v\n%v", loaded.ClientTorrc(), n.ClientTorrc())
	}
	pids := map[*Node]int{}
	for _, node := range n.Nodes {
		pids[node] = node.proc.pid
	}
	start := time.Now()
	if err := loaded.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped by PidFile in %s", time.Since(start).Round(time.Millisecond))
	for node, pid := range pids {
		if runs(pid, node) {
			t.Errorf("%s (pid %d) still runs after Stop", node.Name, pid)
		}
	}
	for _, st := range loaded.Status() {
		if st.Running {
			t.Errorf("status after stop: %s running", st.Name)
		}
	}
}

// socksHandshake checks that a SOCKS5 server answers at addr: greeting with
// "no authentication", expecting it chosen.
func socksHandshake(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte{5, 1, 0}); err != nil {
		t.Fatal(err)
	}
	reply := make([]byte, 2)
	if _, err := io.ReadFull(conn, reply); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(reply, []byte{5, 0}) {
		t.Fatalf("SOCKS greeting answered %x", reply)
	}
}
