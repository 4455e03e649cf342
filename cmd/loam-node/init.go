package main

import (
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"loam/cmd/loam-node/nodeconfig"
	"loam/mixnet/directory"
	"loam/mixnet/link"
)

type initOptions struct {
	role, dir, name   string
	listen, advertise string
	metricsListen     optString
	services          string
	layer             int
	force             bool
}

// optString is a string flag that remembers being set, so that an empty
// value given on purpose ("disable") differs from the default.
type optString struct {
	value string
	set   bool
}

func (o *optString) String() string     { return o.value }
func (o *optString) Set(v string) error { o.value, o.set = v, true; return nil }

var initCommand = &command{
	name:    "init",
	summary: "create keys and a commented node.toml",
	usage:   "init --role ROLE --dir DIR [flags]",
	help: `
Creates DIR (mode 0700) with the node's keys and a commented configuration:

  DIR/identity.key  Ed25519 identity key (every role; an authority's signing key)
  DIR/link.key      X25519 link key (gateway, mix, service)
  DIR/node.toml     the configuration, every setting documented

Keys are written atomically with mode 0600 and never overwritten without
--force. For an authority node.toml also holds the default network
parameters and the authority's own [[directory.authorities]] entry. Other
nodes need the authorities' entries (from 'loam-node show' on each) before
'loam-node run' accepts the file.`,
	flags: func(fs *flag.FlagSet) any {
		o := &initOptions{}
		fs.StringVar(&o.role, "role", "", "`ROLE`: authority, gateway, mix or service (required)")
		fs.IntVar(&o.layer, "layer", 0, "a mix's `LAYER`: 1, 2 or 3 (mixes only)")
		fs.StringVar(&o.dir, "dir", "", "the `DIR`ectory to create (required)")
		fs.StringVar(&o.name, "name", "", "the node's `NAME` in the directory and logs (default: DIR's base name)")
		fs.StringVar(&o.listen, "listen", "", "`HOST:PORT` to listen on: links, or an authority's HTTP API (default by role: 127.0.0.1:7000 authority, :7100 gateway, :720N mix of layer N, :7300 service)")
		fs.StringVar(&o.advertise, "advertise", "", "`HOST:PORT` peers dial, if not the listen address (an authority's URL is http://HOST:PORT)")
		fs.Var(&o.metricsListen, "metrics-listen", "`HOST:PORT` for /metrics and /readyz; \"\" disables (default by role: 127.0.0.1:9000, :9100, :920N, :9300)")
		fs.StringVar(&o.services, "services", "", "comma-separated `NAMES` a service node offers: mailbox (a mailbox replica), echo (service only; default echo)")
		fs.BoolVar(&o.force, "force", false, "overwrite existing keys and node.toml (the node gets a new identity)")
		return o
	},
	run: func(c *command, opts any, stdout, stderr io.Writer) int {
		return runInit(c, opts.(*initOptions), stdout, stderr)
	},
}

// defaultPorts are init's listen and metrics ports by role, so that a
// trial network on one machine starts without collisions between roles.
func defaultPorts(role nodeconfig.Role, layer int) (listen, metrics string) {
	switch role {
	case nodeconfig.RoleAuthority:
		return "127.0.0.1:7000", "127.0.0.1:9000"
	case nodeconfig.RoleGateway:
		return "127.0.0.1:7100", "127.0.0.1:9100"
	case nodeconfig.RoleMix:
		return fmt.Sprintf("127.0.0.1:720%d", layer), fmt.Sprintf("127.0.0.1:920%d", layer)
	}
	return "127.0.0.1:7300", "127.0.0.1:9300"
}

func runInit(c *command, o *initOptions, stdout, stderr io.Writer) int {
	role, ok := nodeconfig.ParseRole(o.role)
	switch {
	case o.role == "":
		return usageError(stderr, c, "--role is required: authority, gateway, mix or service")
	case !ok:
		return usageError(stderr, c, fmt.Sprintf("--role: %q is not a role; want authority, gateway, mix or service", o.role))
	case o.dir == "":
		return usageError(stderr, c, "--dir is required: the directory to create")
	case role == nodeconfig.RoleMix && (o.layer < 1 || o.layer > directory.MixLayers):
		return usageError(stderr, c, fmt.Sprintf("--layer: a mix is in layer 1, 2 or 3; got %d", o.layer))
	case role != nodeconfig.RoleMix && o.layer != 0:
		return usageError(stderr, c, fmt.Sprintf("--layer: only mixes have a layer (this is a %s)", role))
	case role != nodeconfig.RoleService && o.services != "":
		return usageError(stderr, c, fmt.Sprintf("--services: only service nodes run services (this is a %s)", role))
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return fail(stderr, c, err)
	}
	f, err := o.file(role, dir)
	if err != nil {
		return usageError(stderr, c, err.Error())
	}
	cfgPath := filepath.Join(dir, "node.toml")
	files := []string{nodeconfig.IdentityFile, "node.toml"}
	if role != nodeconfig.RoleAuthority {
		files = []string{nodeconfig.IdentityFile, nodeconfig.LinkFile, "node.toml"}
	}
	if !o.force {
		for _, name := range files {
			if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
				return fail(stderr, c, fmt.Errorf("%s exists; refusing to overwrite it (--force replaces the node's keys and configuration)", filepath.Join(dir, name)))
			}
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail(stderr, c, err)
	}
	if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(stderr, "loam-node init: warning: %s has mode %04o; other users can see into it (chmod 700 %s)\n", dir, fi.Mode().Perm(), dir)
	}

	id, err := nodeconfig.GenerateIdentity()
	if err != nil {
		return fail(stderr, c, err)
	}
	defer clear(id)
	if err := nodeconfig.WriteIdentity(dir, id, o.force); err != nil {
		return fail(stderr, c, err)
	}
	var lk link.KeyPair
	if role != nodeconfig.RoleAuthority {
		if lk, err = link.GenerateKeyPair(); err != nil {
			return fail(stderr, c, err)
		}
		defer clear(lk.Private[:])
		if err := nodeconfig.WriteLink(dir, lk, o.force); err != nil {
			return fail(stderr, c, err)
		}
	}
	pub := id.Public().(ed25519.PublicKey)
	if role == nodeconfig.RoleAuthority {
		host := f.Authority.Listen
		if o.advertise != "" {
			host = o.advertise
		}
		f.Directory.Authorities = []nodeconfig.AuthorityEntry{{Key: nodeconfig.EncodeKey(pub), URL: "http://" + host}}
	}
	if err := f.Write(cfgPath, o.force); err != nil {
		return fail(stderr, c, err)
	}

	what := map[string]string{
		nodeconfig.IdentityFile: "Ed25519 identity key (secret, mode 0600)",
		nodeconfig.LinkFile:     "X25519 link key (secret, mode 0600)",
		"node.toml":             "configuration",
	}
	desc := string(role)
	if role == nodeconfig.RoleMix {
		desc = fmt.Sprintf("mix (layer %d)", o.layer)
	}
	fmt.Fprintf(stdout, "Initialized %s %q in %s:\n", article(desc), f.Name, dir)
	for _, name := range files {
		fmt.Fprintf(stdout, "  %-14s %s\n", name, what[name])
	}
	fmt.Fprintln(stdout)
	if role == nodeconfig.RoleAuthority {
		fmt.Fprintf(stdout, "authority key:  %s\nurl:            %s\n\n", nodeconfig.EncodeKey(pub), f.Directory.Authorities[0].URL)
		fmt.Fprintf(stdout, `Next:
  1. Add this authority to every other authority's and every node's node.toml:
     'loam-node show -c %[1]s' prints the [[directory.authorities]] entry.
  2. Add the other authorities' entries here, and make [authority.parameters]
     the same on every authority.
  3. loam-node run -c %[1]s
`, cfgPath)
		return exitOK
	}
	fmt.Fprintf(stdout, "node id:        %s\nidentity key:   %s\nlink key:       %s\n\n",
		directory.NodeIDOf(pub), nodeconfig.EncodeKey(pub), nodeconfig.EncodeKey(lk.Public[:]))
	fmt.Fprintf(stdout, `Next:
  1. Add the directory authorities to %[1]s: one [[directory.authorities]]
     entry each, as 'loam-node show' prints it on each authority, and make
     [network] match their [authority.parameters].
  2. loam-node run -c %[1]s
`, cfgPath)
	return exitOK
}

// file builds the node.toml init writes and checks it before anything is
// written.
func (o *initOptions) file(role nodeconfig.Role, dir string) (*nodeconfig.File, error) {
	f := nodeconfig.Defaults()
	f.Role = string(role)
	f.Layer = o.layer
	f.Name = o.name
	if f.Name == "" {
		f.Name = filepath.Base(dir)
	}
	listen, metrics := defaultPorts(role, o.layer)
	if o.listen != "" {
		listen = o.listen
	}
	if o.metricsListen.set {
		metrics = o.metricsListen.value
	}
	f.MetricsListen = metrics
	if role == nodeconfig.RoleAuthority {
		f.Authority.Listen = listen
		if o.advertise == "" && nodeconfig.UnspecifiedHost(listen) {
			return nil, fmt.Errorf("--advertise is required when --listen (%s) binds every interface: other nodes reach the authority at http://ADVERTISE", listen)
		}
	} else {
		f.Listen = listen
		f.Advertise = o.advertise
	}
	if role == nodeconfig.RoleService {
		f.Services = []string{"echo"}
		if o.services != "" {
			f.Services = strings.Split(o.services, ",")
		}
	}
	if err := f.Validate("node.toml"); err != nil {
		var ce *nodeconfig.Error
		if errors.As(err, &ce) {
			return nil, fmt.Errorf("%s", flagProblems(ce))
		}
		return nil, err
	}
	return f, nil
}

// flagProblems words configuration problems in terms of init's flags.
func flagProblems(e *nodeconfig.Error) string {
	flags := map[string]string{"name": "--name", "listen": "--listen", "advertise": "--advertise",
		"metrics_listen": "--metrics-listen", "services": "--services", "authority.listen": "--listen", "layer": "--layer"}
	var lines []string
	for _, p := range e.Problems {
		name := flags[p.Field]
		if name == "" {
			name = p.Field
		}
		lines = append(lines, name+": "+p.Msg)
	}
	return strings.Join(lines, "; ")
}

func article(s string) string {
	if strings.IndexAny(s[:1], "aeiou") == 0 {
		return "an " + s
	}
	return "a " + s
}
