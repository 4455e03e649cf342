package link

import (
	"context"
	"net"
)

// Transport makes byte-stream connections: TCP here, Tor later, in-memory in
// tests and simulation. Links run over whatever it returns.
type Transport interface {
	Dial(ctx context.Context, addr string) (net.Conn, error)
	Listen(addr string) (net.Listener, error)
}

// TCP is the Transport over TCP. Its zero value dials and listens with the
// standard library's defaults.
type TCP struct {
	Dialer       net.Dialer
	ListenConfig net.ListenConfig
}

// Dial connects to addr ("host:port").
func (t TCP) Dial(ctx context.Context, addr string) (net.Conn, error) {
	return t.Dialer.DialContext(ctx, "tcp", addr)
}

// Listen listens on addr ("host:port").
func (t TCP) Listen(addr string) (net.Listener, error) {
	return t.ListenConfig.Listen(context.Background(), "tcp", addr)
}
