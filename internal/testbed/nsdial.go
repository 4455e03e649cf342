//go:build linux

package testbed

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// The harness reaches into the bed from its own host ("ctl") and serves
// its proxies from others: a socket belongs to the network namespace of
// the thread that made it, so each is made on a thread locked into the
// host's namespace, which then returns to its own. A thread that cannot
// return stays locked and dies with its goroutine.

// netnsDir is where `ip netns` keeps its namespaces.
const netnsDir = "/run/netns"

// inNamespace runs fn on an OS thread that has joined the network
// namespace ns.
func inNamespace(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		own, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("testbed: %w", err)
			return
		}
		defer own.Close()
		target, err := os.Open(filepath.Join(netnsDir, ns))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("testbed: namespace %s: %w", ns, err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("testbed: joining namespace %s: %w", ns, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); err != nil {
			// This thread stays in ns: leave it locked so that it exits
			// with this goroutine instead of running others.
			errc <- fmt.Errorf("testbed: leaving namespace %s: %w", ns, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// DialContext connects to addr (host:port) from this host's namespace.
func (h *Host) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var conn net.Conn
	err := inNamespace(h.NS, func() error {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		conn = c
		return err
	})
	return conn, err
}

// Listen listens on addr (host:port) in this host's namespace.
func (h *Host) Listen(addr string) (net.Listener, error) {
	var ln net.Listener
	err := inNamespace(h.NS, func() error {
		l, err := net.Listen("tcp", addr)
		ln = l
		return err
	})
	return ln, err
}

// HTTPClient returns an HTTP client whose connections start at this host.
func (h *Host) HTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		DialContext: h.DialContext,
		// No idle connections: each would hold a goroutine in the node
		// for a while, and the bed counts the nodes' goroutines.
		DisableKeepAlives: true,
	}}
}

// Transport is a link.Transport whose connections start at this host.
func (h *Host) Transport() HostTransport { return HostTransport{h} }

// HostTransport dials and listens in a host's namespace.
type HostTransport struct{ h *Host }

// Dial connects to addr from the host.
func (t HostTransport) Dial(ctx context.Context, addr string) (net.Conn, error) {
	return t.h.DialContext(ctx, "tcp", addr)
}

// Listen listens on addr in the host's namespace.
func (t HostTransport) Listen(addr string) (net.Listener, error) { return t.h.Listen(addr) }
