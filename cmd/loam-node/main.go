// Command loam-node is what operators run: one binary for the four roles of
// a Loam network — directory authority, gateway, mix and service node.
//
//	loam-node init --role ROLE --dir DIR [flags]   keys and a commented node.toml
//	loam-node show -c node.toml [--json]           the node's public identity
//	loam-node run -c node.toml                     run until SIGINT or SIGTERM
//
// An operator assembles a network with init and show: init every node,
// paste each authority's `show` output into every node.toml, run them all.
//
// Exit status: 0 success, 1 a runtime failure, 2 a usage or configuration
// error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"loam/cmd/loam-node/nodeconfig"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() { os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr)) }

// command is one subcommand.
type command struct {
	name    string
	summary string
	usage   string // first line of --help
	help    string // what it does, after the first line
	flags   func(fs *flag.FlagSet) any
	run     func(c *command, opts any, stdout, stderr io.Writer) int
}

var commands = []*command{initCommand, showCommand, runCommand}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// Main runs loam-node with args (without the program name) and returns the
// exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	case "help":
		if len(args) > 1 {
			if c := lookup(args[1]); c != nil {
				fs, _ := c.flagSet()
				c.printHelp(stdout, fs)
				return exitOK
			}
		}
		usage(stdout)
		return exitOK
	}
	c := lookup(args[0])
	if c == nil {
		fmt.Fprintf(stderr, "loam-node: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}
	return c.main(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `loam-node runs one node of a Loam network: a directory authority, gateway,
mix or service node.

Usage:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  loam-node %-40s %s\n", c.usage, c.summary)
	}
	fmt.Fprintf(w, `
Run 'loam-node COMMAND --help' for a command's flags.
Exit status: 0 success, 1 runtime failure, 2 usage or configuration error.
`)
}

func (c *command) flagSet() (*flag.FlagSet, any) {
	fs := flag.NewFlagSet("loam-node "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs, c.flags(fs)
}

func (c *command) printHelp(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: loam-node %s\n\n%s\n\nFlags:\n", c.usage, strings.TrimSpace(c.help))
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// main parses the subcommand's flags and runs it.
func (c *command) main(args []string, stdout, stderr io.Writer) int {
	fs, opts := c.flagSet()
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		c.printHelp(stdout, fs)
		return exitOK
	case err != nil:
		return usageError(stderr, c, err.Error())
	case fs.NArg() > 0:
		return usageError(stderr, c, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	return c.run(c, opts, stdout, stderr)
}

func usageError(stderr io.Writer, c *command, msg string) int {
	fmt.Fprintf(stderr, "loam-node %s: %s\nRun 'loam-node %s --help' for usage.\n", c.name, msg, c.name)
	return exitUsage
}

// fail reports err and returns its exit status: 2 for a configuration
// problem, 1 otherwise. A configuration error already names its file on
// every line.
func fail(stderr io.Writer, c *command, err error) int {
	if errors.Is(err, nodeconfig.ErrInvalid) {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	fmt.Fprintf(stderr, "loam-node %s: %v\n", c.name, err)
	return exitFailure
}
