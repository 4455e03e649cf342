package nodeconfig

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"loam/mailbox"
	"loam/onion"
)

// Bounds of [mailbox] and [tor] settings that the specification does not
// fix.
const (
	maxMailboxEntries = 1 << 24
	maxMailboxBytes   = 1 << 40
	maxTTL            = 365 * 24 * time.Hour
)

// mailbox checks [mailbox]: only a service node offering "mailbox" has
// one, and there it configures the replica's store.
func (k *checker) mailbox() {
	f, c := k.f, k.c
	offers := c.Role == RoleService && slices.Contains(f.Services, mailbox.ServiceName)
	if !offers {
		if f.set("mailbox", false) {
			k.bad("mailbox", "only a service node offering \"mailbox\" has a [mailbox] section; remove it (this %s)", what(c.Role, f.Services))
		}
		return
	}
	m := f.Mailbox
	if m.Dir == "" {
		k.bad("mailbox.dir", "required: the replica's store directory (relative to data_dir), such as %q", DefaultMailboxDir)
	}
	ttl := k.duration("mailbox.ttl", m.TTL, time.Minute, maxTTL, false)
	// The largest blob a deposit can carry in this network; a replica may
	// take less (SPEC.md §7.2).
	g := c.Network.Geometry
	largest := 0
	if g.UserPayload >= onion.MinUserPayload && g.UserPayload <= onion.MaxUserPayload && g.Hops >= 1 && g.Hops <= onion.MaxHops {
		largest = mailbox.MaxBlob(g)
		switch {
		case largest < 1:
			k.bad("mailbox", "a packet of this network (network.user_payload %d, %d hops) has no room for a deposit", g.UserPayload, g.Hops)
		case m.MaxBlob < 0 || m.MaxBlob > largest:
			k.bad("mailbox.max_blob", "want 0 (the largest a deposit carries in this network, %d bytes) to %d; got %d", largest, largest, m.MaxBlob)
		}
	}
	k.intRange("mailbox.max_entries", m.MaxEntries, 1, maxMailboxEntries, "")
	if m.MaxBytes < 1 || m.MaxBytes > maxMailboxBytes {
		k.bad("mailbox.max_bytes", "want 1 to %d bytes; got %d", int64(maxMailboxBytes), m.MaxBytes)
	}
	k.intRange("mailbox.workers", m.Workers, 1, maxWorkers, "")
	k.intRange("mailbox.queue", m.Queue, 1, maxQueue, "")
	gc := k.duration("mailbox.gc_interval", m.GCInterval, time.Second, 24*time.Hour, false)
	maxBlob := m.MaxBlob
	if maxBlob == 0 {
		maxBlob = largest
	}
	c.Mailbox = Mailbox{
		Dir:        k.under(m.Dir),
		Limits:     mailbox.Limits{MaxBlob: maxBlob, MaxEntries: m.MaxEntries, MaxBytes: int(min(m.MaxBytes, maxMailboxBytes)), TTL: ttl},
		Workers:    m.Workers,
		Queue:      m.Queue,
		GCInterval: gc,
	}
}

// tor checks [tor]: only a gateway has one, and there it configures the
// onion service its clients reach it by.
func (k *checker) tor() {
	f, c := k.f, k.c
	if c.Role != RoleGateway {
		if f.set("tor", false) {
			k.bad("tor", "only a gateway runs Tor (an onion service for its clients); remove [tor] for a %s", c.Role)
		}
		return
	}
	t := f.Tor
	if t.DataDir == "" {
		k.bad("tor.data_dir", "required: tor's own data directory, holding the onion service key (relative to data_dir), such as %q", DefaultTorDataDir)
	}
	if t.OnionPort < 1 || t.OnionPort > 65535 {
		k.bad("tor.onion_port", "want the onion service's virtual port, 1 to 65535; got %d", t.OnionPort)
	}
	for i, line := range t.Torrc {
		if line == "" || strings.ContainsAny(line, "\r\n\x00") {
			k.bad(fmt.Sprintf("tor.torrc[%d]", i), "want one torrc option on one line, such as \"UseBridges 1\"; got %q", line)
		}
	}
	timeout := k.duration("tor.bootstrap_timeout", t.BootstrapTimeout, time.Second, time.Hour, false)
	c.Tor = Tor{Enabled: t.Enabled, DataDir: k.under(t.DataDir), OnionPort: t.OnionPort, Path: t.Path,
		Torrc: slices.Clone(t.Torrc), BootstrapTimeout: timeout}
}

// under resolves a path relative to the data directory.
func (k *checker) under(p string) string {
	if p == "" || filepath.IsAbs(p) || k.c.DataDir == "" {
		return p
	}
	return filepath.Join(k.c.DataDir, p)
}

// what names a node for an error message: its role, and a service node's
// services.
func what(role Role, services []string) string {
	if role != RoleService {
		return "is a " + string(role)
	}
	return fmt.Sprintf("offers %s", strings.Join(services, ", "))
}
