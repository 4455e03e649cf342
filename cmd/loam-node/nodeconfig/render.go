package nodeconfig

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"loam/mailbox"
)

// Render writes f as a commented node.toml: every setting the role has,
// each with what it means and its bounds. Decoding the result gives f back.
func (f *File) Render() []byte {
	var b bytes.Buffer
	if err := fileTemplate.Execute(&b, f); err != nil {
		panic(fmt.Sprintf("nodeconfig: rendering: %v", err)) // the template is fixed; only a bug gets here
	}
	return b.Bytes()
}

// Write renders f to path atomically (mode 0600). Without force an existing
// file is an error wrapping os.ErrExist.
func (f *File) Write(path string, force bool) error {
	return writeFile(path, f.Render(), FileMode, force)
}

var fileTemplate = template.Must(template.New("node.toml").Funcs(template.FuncMap{
	"q":     tomlString,
	"float": tomlFloat,
	"list":  tomlList,
}).Parse(strings.TrimLeft(templateText, "\n")))

// tomlString writes a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// tomlFloat writes a float so that TOML reads it back as a float: always
// with a fraction or an exponent.
func tomlFloat(v float64) string {
	switch {
	case math.IsNaN(v):
		return "nan"
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	s := strconv.FormatFloat(v, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

func tomlList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = tomlString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// IsAuthority reports whether the file configures an authority; the
// template uses it.
func (f *File) IsAuthority() bool { return f.Role == string(RoleAuthority) }

// OffersMailbox reports whether the file configures a mailbox replica; the
// template uses it.
func (f *File) OffersMailbox() bool {
	return f.Role == string(RoleService) && slices.Contains(f.Services, mailbox.ServiceName)
}

// FileMode is the mode configuration files are written with.
const FileMode os.FileMode = 0o600

const templateText = `
# loam-node configuration ({{.Role}}{{if eq .Role "mix"}}, layer {{.Layer}}{{end}}).
#
# Written by ` + "`loam-node init`" + `; run it with ` + "`loam-node run -c node.toml`" + `.
# Durations are strings such as "50ms", "4s" or "20m". A relative path is
# taken from the directory of this file. Unknown keys are an error.

# What this process is: "authority", "gateway", "mix" or "service". Changing
# it needs a new ` + "`loam-node init`" + `.
role = {{q .Role}}
{{- if eq .Role "mix"}}

# The mix layer this node serves: 1, 2 or 3. Packets go gateway -> layer 1
# -> layer 2 -> layer 3 -> service.
layer = {{.Layer}}
{{- end}}

# This node's name in the directory and in logs: 1 to 64 bytes of UTF-8.
name = {{q .Name}}
{{if .IsAuthority}}
# Holds identity.key and authority/ (descriptors, votes, signatures and
# documents: the record of what this authority signed, which it must never
# lose). Keep it private: mode 0700, key files 0600.
{{- else}}
# Holds identity.key, link.key, onion/ (the onion keys of the current
# epochs) and directory/ (the last good directory documents). Keep it
# private: mode 0700, key files 0600.
{{- end}}
data_dir = {{q .DataDir}}
{{- if not .IsAuthority}}

# host:port the link listener binds (TCP). Peers and, at a gateway, clients
# connect here.
listen = {{q .Listen}}

# host:port published in the directory for peers to dial. Empty: the
# listen address. Required when listen binds every interface (0.0.0.0:port).
advertise = {{q .Advertise}}
{{- end}}

# host:port serving Prometheus metrics at /metrics and readiness at /readyz
# (200 once the node is ready). Empty disables the listener.
metrics_listen = {{q .MetricsListen}}

# Logs go to stderr. Level: "debug", "info", "warn" or "error".
log_level = {{q .LogLevel}}
# Format: "text" (key=value) or "json".
log_format = {{q .LogFormat}}
{{- if eq .Role "service"}}

# The services this node offers, by name. This build knows: mailbox (a
# mailbox replica, SPEC.md §7; set up in [mailbox]) and echo (answers every
# request with its own body; for tests and diagnosis).
services = {{list .Services}}
{{- end}}
{{- if not .IsAuthority}}

# The network this node belongs to. It must match the authorities'
# [authority.parameters]: a node refuses documents of another network.
[network]
# Routing slots in a packet header: 5 to 16 (5 = gateway, 3 mixes, service).
hops = {{.Network.Hops}}
# Bytes of user payload in a packet: 64 to 65536.
user_payload = {{.Network.UserPayload}}
# Length of an epoch (onion keys and documents change once per epoch):
# 1s to 24h.
epoch_period = {{q .Network.EpochPeriod}}
{{- end}}

# The directory authorities{{if .IsAuthority}}: every authority of the network, this one
# included. All of them must list the same set and the same parameters{{else}} this node trusts{{end}}.
[directory]
# Signatures of listed authorities a document needs: a majority of them.
# 0 means a bare majority (2 of 3).
threshold = {{.Directory.Threshold}}

# One entry per authority, as ` + "`loam-node show`" + ` prints it on each authority:
# key: its Ed25519 public key, standard base64 (44 characters);
# url: the base URL of its HTTP API.
{{- range .Directory.Authorities}}
[[directory.authorities]]
key = {{q .Key}}
url = {{q .URL}}
{{- else}}
#
# [[directory.authorities]]
# key = "base64 of the authority's 32-byte Ed25519 public key"
# url = "http://host:port"
{{- end}}
{{- if not .IsAuthority}}

# Queue bounds and memory. The defaults suit a production node.
[limits]
# Packet-unwrapping workers: 0 means one per CPU.
workers = {{.Limits.Workers}}
# Packets waiting for a worker; beyond this they are dropped (overload).
queue = {{.Limits.Queue}}
# Packets waiting for one outgoing link.
link_queue = {{.Limits.LinkQueue}}
# Packets held for their mixing delay (about 2.5 KB each).
max_scheduled = {{.Limits.MaxScheduled}}
# Replay tags each onion key's filter holds at its false-positive rate
# (the default takes about 9 MB per key; 2 or 3 keys are live).
replay_capacity = {{.Limits.ReplayCapacity}}
# The replay filter's false-positive rate at capacity: 1e-12 to below 1.
replay_fp = {{float .Limits.ReplayFP}}
# Gateways: sealed replies held for each client while it is offline ...
client_hold = {{.Limits.ClientHold}}
# ... and for how long.
client_hold_for = {{q .Limits.ClientHoldFor}}
{{- if .OffersMailbox}}

# The mailbox replica (SPEC.md §7): its store and the workers that serve
# deposits, fetches and deletes.
[mailbox]
# The store: a badger database in a directory of its own (relative to
# data_dir). A deposit is answered only once it is on disk (fsync), so the
# disk must honour fsync.
dir = {{q .Mailbox.Dir}}
# How long an entry is kept: 1m to 8760h.
ttl = {{q .Mailbox.TTL}}
# The largest blob taken, in bytes. 0: the largest a deposit carries in this
# network (1507 with the default user_payload).
max_blob = {{.Mailbox.MaxBlob}}
# Each mailbox id holds at most this many entries ...
max_entries = {{.Mailbox.MaxEntries}}
# ... and this many bytes of blobs; beyond either a deposit is refused
# (quota) until the reader deletes.
max_bytes = {{.Mailbox.MaxBytes}}
# Requests served at once: 1 to 1024. Deposits wait for the disk and share
# its fsyncs, so more workers store more per second.
workers = {{.Mailbox.Workers}}
# Requests waiting for a worker; beyond this one is answered "unavailable".
queue = {{.Mailbox.Queue}}
# How often expired entries are purged and badger's value log collected.
gc_interval = {{q .Mailbox.GCInterval}}
{{- end}}
{{- if eq .Role "gateway"}}

# Tor: publish this gateway as a v3 onion service as well, so that clients
# reach it without it learning their IP addresses (docs/tor.md). Needs
# Debian's tor package (apt-get install tor); loam-node runs a tor process
# of its own, not the system's tor service.
[tor]
# true: start tor and serve links on the onion service too.
enabled = {{.Tor.Enabled}}
# tor's data directory (relative to data_dir). It holds the onion service
# key, so the onion address stays the same across restarts: back it up.
data_dir = {{q .Tor.DataDir}}
# The onion service's virtual port: the port in its address, not one
# opened on this machine (an onion service needs no inbound port).
onion_port = {{.Tor.OnionPort}}
# The tor program. Empty: tor on PATH (or /usr/sbin/tor).
path = {{q .Tor.Path}}
# Extra torrc lines, one option each, such as bridges. Leave empty on the
# public Tor network.
torrc = {{list .Tor.Torrc}}
# How long tor may take to bootstrap before loam-node gives up: 1s to 1h.
bootstrap_timeout = {{q .Tor.BootstrapTimeout}}
{{- end}}
{{- if .HasFaults}}

# TESTING AID: NEVER ENABLE ON A REAL NETWORK. Fault injection for the test
# bed (internal/testbed, docs/reliability.md): this node drops, delays and
# reorders the packets it sends. Refused unless enabled = true; when
# enabled the node warns at start and exports loam_faults_enabled 1.
[faults]
# true: inject the faults below.
enabled = {{.Faults.Enabled}}
# A rules file (relative to data_dir) re-read every second while it
# changes: "version = N" and [[rules]] tables with the keys below. Once it
# loads, its rules replace the ones here. Empty: none.
control = {{q .Faults.Control}}
# The probability that each packet sent is dropped: 0 to 1.
loss = {{float .Faults.Loss}}
# Added to every write on a link to a next hop: delay plus a uniformly
# random share of jitter, 0s to 5s each. A link's order is kept.
delay = {{q .Faults.Delay}}
jitter = {{q .Faults.Jitter}}
# The probability that a packet this node relays is held back up to
# reorder_hold (0s to 5s) past its mixing delay, so later ones overtake it.
reorder = {{float .Faults.Reorder}}
reorder_hold = {{q .Faults.Hold}}
# The next hops these apply to, by node id (32 hex digits, as
# ` + "`loam-node show`" + ` prints it); empty: every next hop.
to = {{list .Faults.To}}
{{- end}}
{{- else}}

[authority]
# host:port the authority's HTTP API binds. Its url in
# [[directory.authorities]] must reach it.
listen = {{q .Authority.Listen}}
# How long after it starts an authority that missed the vote of the current
# epoch runs its own (bootstrap) round. Empty: an eighth of the epoch period.
bootstrap = {{q .Authority.Bootstrap}}

# The network parameters this authority votes for (SPEC.md §3.4). Every
# authority must vote for the same ones, and every node's [network] must
# match hops, user_payload and epoch_period.
[authority.parameters]
# Routing slots in a packet header: 5 to 16.
hops = {{.Authority.Parameters.Hops}}
# Bytes of user payload in a packet: 64 to 65536.
user_payload = {{.Authority.Parameters.UserPayload}}
# Mean mixing delay per hop (1/mu): 1us to 1m.
mu = {{q .Authority.Parameters.Mu}}
# Clients' rates per second: real-or-drop stream (above 0), loops, drops;
# 0 to 1000.
lambda_p = {{float .Authority.Parameters.LambdaP}}
lambda_l = {{float .Authority.Parameters.LambdaL}}
lambda_d = {{float .Authority.Parameters.LambdaD}}
# Mixes' and gateways' own loop rate per second: 0 to 1000.
lambda_m = {{float .Authority.Parameters.LambdaM}}
# Length of an epoch: 1s to 24h.
epoch_period = {{q .Authority.Parameters.EpochPeriod}}
# How long an onion key still unwraps packets after its epoch: 0 to the
# epoch period.
grace = {{q .Authority.Parameters.Grace}}
# Mailbox replicas per mailbox id: 1 to 16.
replicas = {{.Authority.Parameters.Replicas}}
{{- end}}
`
