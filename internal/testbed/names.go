package testbed

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Every network namespace the bed makes is called Prefix, the process id of
// the harness that made it, a dash and the host's name:
// "loamtb-4242-mix-1a". The owner's pid lets a later run sweep what a
// crashed run left behind without touching a bed that is still running.
const Prefix = "loamtb-"

// nsName names host's namespace for the harness with process id owner.
func nsName(owner int, host string) string {
	return Prefix + strconv.Itoa(owner) + "-" + host
}

// parseNSName splits a namespace name the bed made into owner and host; ok
// is false for any other name.
func parseNSName(name string) (owner int, host string, ok bool) {
	rest, found := strings.CutPrefix(name, Prefix)
	if !found {
		return 0, "", false
	}
	pid, host, found := strings.Cut(rest, "-")
	if !found || host == "" || !validHostName(host) {
		return 0, "", false
	}
	owner, err := strconv.Atoi(pid)
	if err != nil || owner <= 0 || strconv.Itoa(owner) != pid {
		return 0, "", false
	}
	return owner, host, true
}

// validHostName reports whether s may name a host: lower-case letters,
// digits and dashes, 1 to 32 of them, starting with a letter.
func validHostName(s string) bool {
	if len(s) == 0 || len(s) > 32 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// staleNamespaces picks, from the namespaces that exist, those the bed
// made for an owner that is no longer alive: what a crashed run left.
// Namespaces of live owners (this run, or another bed running now) and
// every namespace the bed did not make are left alone.
func staleNamespaces(names []string, alive func(pid int) bool) []string {
	var out []string
	for _, n := range names {
		owner, _, ok := parseNSName(n)
		if ok && !alive(owner) {
			out = append(out, n)
		}
	}
	return out
}

// allocator hands out the host addresses of an IPv4 prefix in order,
// skipping the network and broadcast addresses.
type allocator struct {
	prefix netip.Prefix
	next   netip.Addr
}

func newAllocator(p netip.Prefix) (*allocator, error) {
	p = p.Masked()
	if !p.Addr().Is4() || p.Bits() > 30 || p.Bits() < 8 {
		return nil, fmt.Errorf("testbed: subnet %s: want an IPv4 prefix of /8 to /30", p)
	}
	return &allocator{prefix: p, next: p.Addr().Next()}, nil
}

// take returns the next free host address.
func (a *allocator) take() (netip.Addr, error) {
	addr := a.next
	if !a.prefix.Contains(addr) || !a.prefix.Contains(addr.Next()) { // the last one is the broadcast address
		return netip.Addr{}, fmt.Errorf("testbed: subnet %s has no free address left", a.prefix)
	}
	a.next = addr.Next()
	return addr, nil
}
