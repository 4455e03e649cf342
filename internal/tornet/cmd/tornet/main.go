// Command tornet starts, stops and inspects a private Tor network on
// 127.0.0.1 for debugging Loam over Tor by hand (tests use package
// loam/internal/tornet directly). Run it through scripts/tornet:
//
//	scripts/tornet start DIR    generate the network in DIR (empty or absent) and start it
//	scripts/tornet status DIR   which tors run; consensus; the client's bootstrap
//	scripts/tornet stop DIR     stop every tor of the network, by process id
//
// The tors keep running after start returns. DIR/join.torrc holds the lines
// a Loam tor needs to join (mixnet/tor Config.ExtraTorrc).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"

	"loam/internal/tornet"
)

const usage = `usage: tornet start|stop|status DIR

  start DIR    generate a private Tor network on 127.0.0.1 in DIR and start it
  status DIR   show which of its tors run and how far the network got
  stop DIR     stop every tor of the network in DIR
`

func main() {
	if len(os.Args) != 3 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch cmd, dir := os.Args[1], os.Args[2]; cmd {
	case "start":
		err = start(dir)
	case "stop":
		err = stop(dir)
	case "status":
		err = status(dir)
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func start(dir string) error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	fmt.Fprintf(os.Stderr, "starting a private Tor network in %s (up to 2 minutes) ...\n", dir)
	n, err := tornet.StartWith(ctx, tornet.Options{Dir: dir, Detach: true, Logger: log})
	if err != nil {
		return err
	}
	join := filepath.Join(n.Dir, "join.torrc")
	lines := n.ClientTorrc()
	if err := os.WriteFile(join, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	fmt.Printf("private Tor network up in %s: consensus after %s, client bootstrapped after %s, through the exit after %s\n",
		n.Dir, n.Consensus.Round(1e8), n.Bootstrapped.Round(1e8), n.Exit.Round(1e8))
	fmt.Printf("SOCKS port of its client: %s (curl --socks5-hostname %s http://ADDRESS.onion:PORT/)\n",
		n.SocksAddr(), n.SocksAddr())
	fmt.Printf("torrc lines for a Loam tor (mixnet/tor Config.ExtraTorrc), also in %s:\n", join)
	for _, l := range lines {
		fmt.Println("    " + l)
	}
	fmt.Printf("stop it with: scripts/tornet stop %s\n", dir)
	return nil
}

func stop(dir string) error {
	n, err := tornet.Load(dir)
	if err != nil {
		return err
	}
	if err := n.Stop(); err != nil {
		return err
	}
	fmt.Printf("stopped the private Tor network in %s\n", n.Dir)
	return nil
}

func status(dir string) error {
	n, err := tornet.Load(dir)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tROLE\tPID\tRUNNING\tDETAIL")
	running := 0
	for _, s := range n.Status() {
		pid := "-"
		if s.PID != 0 {
			pid = fmt.Sprint(s.PID)
		}
		if s.Running {
			running++
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%t\t%s\n", s.Name, s.Role, pid, s.Running, s.Detail)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Printf("%d of %d tors running; client SOCKS %s\n", running, len(n.Nodes), n.SocksAddr())
	return nil
}
