//go:build linux

package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The bed's network: one namespace per host, each with a veth pair whose
// other end sits on a bridge inside a namespace of its own (the switch).
// Every address lives inside namespaces the bed made; the machine's own
// namespace gets no interface, address or route.
//
//	switch ns "loamtb-PID-switch":  br0 ── p1 ── p2 ── … ─ pN
//	                                       │     │         │
//	host ns "loamtb-PID-NAME":           eth0  eth0  …   eth0 (10.77.0.x/24)

// switchHost is the switch namespace's host name.
const switchHost = "switch"

// Net is the bed's network.
type Net struct {
	owner  int
	prefix netip.Prefix
	sw     string // the switch namespace

	mu     sync.Mutex
	alloc  *allocator
	hosts  []*Host
	closed bool
}

// Host is one namespace of the bed, with one address.
type Host struct {
	Name string
	NS   string     // the namespace
	Addr netip.Addr // its address on the bed's subnet
	port string     // its port on the switch
	net  *Net
}

// RequireRoot fails unless this process can make network namespaces and
// runs `ip` from iproute2.
func RequireRoot() error {
	if os.Geteuid() != 0 {
		return errors.New("testbed: the test bed makes network namespaces and must run as root (CI runs as root; try sudo)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("testbed: the test bed needs `ip` from iproute2 (apt-get install iproute2)")
	}
	out, err := exec.Command("ip", "-V").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("iproute2")) {
		return fmt.Errorf("testbed: `ip -V` does not look like iproute2: %s %v", bytes.TrimSpace(out), err)
	}
	return nil
}

// NewNet sweeps what crashed runs left and makes the switch: an empty
// network on prefix, owned by this process.
func NewNet(ctx context.Context, prefix netip.Prefix) (*Net, error) {
	if err := RequireRoot(); err != nil {
		return nil, err
	}
	alloc, err := newAllocator(prefix)
	if err != nil {
		return nil, err
	}
	if err := Sweep(ctx); err != nil {
		return nil, err
	}
	n := &Net{owner: os.Getpid(), prefix: alloc.prefix, alloc: alloc}
	n.sw = nsName(n.owner, switchHost)
	if err := ip(ctx, "netns", "add", n.sw); err != nil {
		return nil, err
	}
	if err := ipIn(ctx, n.sw, "link", "add", "br0", "type", "bridge"); err != nil {
		n.Close()
		return nil, err
	}
	if err := ipIn(ctx, n.sw, "link", "set", "br0", "up"); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// Prefix is the bed's subnet.
func (n *Net) Prefix() netip.Prefix { return n.prefix }

// AddHost makes a namespace called name with the next free address,
// plugged into the switch.
func (n *Net) AddHost(ctx context.Context, name string) (*Host, error) {
	if !validHostName(name) || name == switchHost {
		return nil, fmt.Errorf("testbed: %q cannot name a host", name)
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil, errors.New("testbed: the network is torn down")
	}
	for _, h := range n.hosts {
		if h.Name == name {
			n.mu.Unlock()
			return nil, fmt.Errorf("testbed: host %s exists", name)
		}
	}
	addr, err := n.alloc.take()
	if err != nil {
		n.mu.Unlock()
		return nil, err
	}
	h := &Host{Name: name, NS: nsName(n.owner, name), Addr: addr, port: "p" + strconv.Itoa(len(n.hosts)+1), net: n}
	n.hosts = append(n.hosts, h)
	n.mu.Unlock()

	steps := [][]string{
		{"netns", "add", h.NS},
		{"-n", n.sw, "link", "add", h.port, "type", "veth", "peer", "name", "eth0", "netns", h.NS},
		{"-n", n.sw, "link", "set", h.port, "master", "br0", "up"},
		{"-n", h.NS, "addr", "add", netip.PrefixFrom(addr, n.prefix.Bits()).String(), "dev", "eth0"},
		{"-n", h.NS, "link", "set", "eth0", "up"},
		{"-n", h.NS, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := ip(ctx, s...); err != nil {
			return nil, fmt.Errorf("testbed: host %s: %w", name, err)
		}
	}
	return h, nil
}

// Host returns the host called name, or nil.
func (n *Net) Host(name string) *Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, h := range n.hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// SetConnected plugs the host into the switch (true) or pulls its cable
// (false): its port on the bridge goes down, so every packet to or from it
// is lost until it comes back, as when a machine drops off the network.
func (h *Host) SetConnected(ctx context.Context, connected bool) error {
	state := "down"
	if connected {
		state = "up"
	}
	return ipIn(ctx, h.net.sw, "link", "set", h.port, state)
}

// Close kills every process left in the bed's namespaces and deletes
// them. It may be called more than once.
func (n *Net) Close() error {
	n.mu.Lock()
	n.closed = true
	names := []string{n.sw}
	for _, h := range n.hosts {
		names = append(names, h.NS)
	}
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []error
	for _, ns := range names {
		if err := deleteNamespace(ctx, ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Sweep deletes the namespaces that bed runs no longer alive left behind,
// with every process still in them.
func Sweep(ctx context.Context) error {
	names, err := listNamespaces()
	if err != nil {
		return err
	}
	var errs []error
	for _, ns := range staleNamespaces(names, pidAlive) {
		errs = append(errs, deleteNamespace(ctx, ns))
	}
	return errors.Join(errs...)
}

// listNamespaces lists the namespaces `ip netns` knows.
func listNamespaces() ([]string, error) {
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("testbed: %w", err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out, nil
}

// pidAlive reports whether a process with this id exists.
func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// deleteNamespace kills what runs in ns and deletes it; a namespace that
// is already gone is no error.
func deleteNamespace(ctx context.Context, ns string) error {
	if _, err := os.Stat(netnsDir + "/" + ns); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	for range 3 {
		out, err := exec.CommandContext(ctx, "ip", "netns", "pids", ns).Output()
		if err != nil {
			break
		}
		pids := strings.Fields(string(out))
		if len(pids) == 0 {
			break
		}
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil && pid > 1 && pid != os.Getpid() {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(50 * time.Millisecond) // teardown polls for the kernel to reap; no protocol waits on it
	}
	return ip(ctx, "netns", "del", ns)
}

// ip runs `ip args...`.
func ip(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "ip", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("testbed: ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// ipIn runs `ip -n ns args...`.
func ipIn(ctx context.Context, ns string, args ...string) error {
	return ip(ctx, append([]string{"-n", ns}, args...)...)
}
