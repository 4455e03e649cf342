// Command loam is a person's Loam client: their identity, friends and feed,
// kept on their own machine and exchanged with friends through the mixnet.
//
//	loam init --name NAME --network FILE   make an identity and join a network
//	loam friend code                       print your friend code
//	loam friend add CODE                   add a friend by their code
//	loam post TEXT [--attach FILE]...      post to all your friends
//	loam sync                              fetch what friends shared
//	loam feed                              show your feed
//	loam status                            connection, cover traffic, store
//	loam ui                                the same in a browser, on this machine
//
// Global flags come before the command: --dir (default $LOAM_DIR, else
// ~/.loam), --json, --tor, --passphrase-file.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// globals are the flags every command shares.
type globals struct {
	dir            string
	json           bool
	tor            bool
	passphraseFile string
	logLevel       string
	stdout, stderr io.Writer
	log            *slog.Logger
}

type command struct {
	name, args, help string
	run              func(g *globals, args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"init", "--name NAME --network FILE", "make your identity and join a network", cmdInit},
		{"friend", "code | add CODE | list", "your friend code; add and list friends", cmdFriend},
		{"post", "TEXT [--attach FILE]...", "post text and pictures to all your friends", cmdPost},
		{"sync", "", "fetch what your friends shared with you", cmdSync},
		{"feed", "[--limit N] [--save-attachments DIR]", "show your feed, newest first", cmdFeed},
		{"status", "[--offline]", "connection, Tor, cover traffic, pending deliveries", cmdStatus},
		{"ui", "[--listen ADDR] [--open]", "serve the web interface on this machine", cmdUI},
		{"deposit", "--seed HEX (--text TEXT | --file FILE)", "debug: deposit a blob into a mailbox", cmdDeposit},
		{"fetch", "--id HEX [--cursor N]", "debug: fetch a mailbox's entries", cmdFetch},
	}
}

// usageError is a mistake in how loam was called.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func run(args []string, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("loam", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&g.dir, "dir", defaultDir(), "data directory")
	fs.BoolVar(&g.json, "json", false, "print results as JSON")
	fs.BoolVar(&g.tor, "tor", false, "reach the gateway through Tor")
	fs.StringVar(&g.passphraseFile, "passphrase-file", "", "read the store's passphrase from this file")
	fs.StringVar(&g.logLevel, "log-level", "warn", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "loam: %v\n\n", err)
		usage(stderr)
		return exitUsage
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		fmt.Fprintf(stderr, "loam: --log-level: want debug, info, warn or error, got %q\n", g.logLevel)
		return exitUsage
	}
	g.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	rest := fs.Args()
	if len(rest) == 0 || rest[0] == "help" || rest[0] == "-h" || rest[0] == "--help" {
		usage(stdout)
		if len(rest) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands {
		if c.name != rest[0] {
			continue
		}
		err := c.run(g, rest[1:])
		switch {
		case err == nil:
			return exitOK
		case errors.Is(err, flag.ErrHelp):
			fmt.Fprintf(stdout, "usage: loam %s %s\n  %s\n", c.name, c.args, c.help)
			return exitOK
		case errors.As(err, new(usageError)):
			fmt.Fprintf(stderr, "loam %s: %v\nusage: loam %s %s\n", c.name, err, c.name, c.args)
			return exitUsage
		default:
			fmt.Fprintf(stderr, "loam %s: %v\n", c.name, err)
			return exitFailure
		}
	}
	fmt.Fprintf(stderr, "loam: unknown command %q\n\n", rest[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: loam [--dir DIR] [--json] [--tor] [--passphrase-file FILE] COMMAND [ARGS]")
	fmt.Fprintln(w)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-7s %-40s %s\n", c.name, c.args, c.help)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Start with: loam init --name YOURNAME --network NETWORK.toml")
}

func defaultDir() string {
	if d := os.Getenv("LOAM_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".loam"
	}
	return filepath.Join(home, ".loam")
}

// flags parses a command's own flags, allowing them after positional
// arguments too (loam post "text" --attach a.jpg).
func flags(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }
