package tor

import (
	"context"
	"fmt"
	"net"

	"loam/mixnet/link"
)

// Transport is a link.Transport whose Dial goes through tor's SOCKS port:
// to "<id>.onion:port" addresses (an onion service, end to end inside Tor)
// or to "host:port" through an exit. Host names go to tor unresolved, so
// no DNS query leaves this machine. Listen fails with ErrListen: a client
// over Tor is never dialled; a gateway uses ListenOnion.
func (t *Tor) Transport() link.Transport { return transport{t} }

type transport struct{ t *Tor }

// contextDialer is what golang.org/x/net/proxy's SOCKS5 dialer, under
// bine's Dialer, implements.
type contextDialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

func (tr transport) Dial(ctx context.Context, addr string) (net.Conn, error) {
	t := tr.t
	t.mu.Lock()
	closed, d := t.closed, t.dialer
	t.mu.Unlock()
	if closed || d == nil {
		return nil, ErrClosed
	}
	var conn net.Conn
	var err error
	if cd, ok := d.Dialer.(contextDialer); ok {
		conn, err = cd.DialContext(ctx, "tcp", addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("tor: dialling %s through Tor: %w", addr, err)
	}
	return conn, nil
}

func (transport) Listen(addr string) (net.Listener, error) {
	return nil, fmt.Errorf("%w (asked to listen on %s)", ErrListen, addr)
}
