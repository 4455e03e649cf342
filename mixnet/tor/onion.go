package tor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	bine "github.com/cretz/bine/tor"
)

// ListenOnion publishes a v3 onion service on virtual port port, with the
// key kept in DataDir (so the address is stable; see OnionAddress), and
// returns a listener for its connections and its "<id>.onion:port" address.
// It returns once tor reports the descriptor uploaded to a directory, or
// fails when ctx ends or PublishTimeout passes. A gateway hands the
// listener to mixnet.Node.Serve; closing it removes the service. One onion
// service per Tor.
//
// Connections arrive from tor on a listener on 127.0.0.1: their remote
// address is tor's, never a client's.
func (t *Tor) ListenOnion(ctx context.Context, port int) (net.Listener, string, error) {
	if port < 1 || port > 65535 {
		return nil, "", fmt.Errorf("%w: onion port %d is not 1 to 65535", ErrConfig, port)
	}
	key, err := LoadServiceKey(t.cfg.DataDir)
	if err != nil {
		return nil, "", err
	}
	id := key.ServiceID()
	ctx, cancel := context.WithTimeout(ctx, t.cfg.PublishTimeout)
	defer cancel()
	// Subscribe before the service exists so no upload event is missed.
	events, err := t.watchHSDesc(ctx)
	if err != nil {
		return nil, "", err
	}
	ln, err := t.addOnion(key, port)
	if err != nil {
		return nil, "", err
	}
	if ln.id != id {
		ln.Close()
		return nil, "", fmt.Errorf("tor: tor published %s.onion for a key whose address is %s.onion", ln.id, id)
	}
	if err := awaitUpload(ctx, events, id, t.cfg.PublishTimeout); err != nil {
		ln.Close()
		return nil, "", err
	}
	addr := key.Address(port)
	t.log.Info("onion service published", "address", addr)
	return ln, addr, nil
}

func (t *Tor) addOnion(key *ServiceKey, port int) (*onionListener, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, ErrClosed
	}
	if t.onion != nil {
		return nil, fmt.Errorf("%w: this Tor already has an onion service (%s.onion)", ErrConfig, t.onion.id)
	}
	// bine opens the local listener on 127.0.0.1 and maps the virtual port
	// to it; NoWait, because bine's own wait for the upload can stall its
	// control connection (awaitUpload uses a connection of its own).
	svc, err := t.bine.Listen(context.Background(), &bine.ListenConf{
		Key: key.keyPair(), RemotePorts: []int{port}, Version3: true, NoWait: true,
	})
	if err != nil {
		return nil, fmt.Errorf("tor: ADD_ONION: %w", err)
	}
	ln := &onionListener{t: t, id: svc.ID, local: svc.LocalListener, addr: onionAddr(key.Address(port))}
	t.onion = ln
	return ln, nil
}

// awaitUpload waits for an HS_DESC UPLOADED event for service id.
func awaitUpload(ctx context.Context, events <-chan hsDesc, id string, limit time.Duration) error {
	uploads, failures := 0, []string{}
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return fmt.Errorf("%w: the control connection closed (tor exited?)", ErrPublish)
			}
			if ev.address != id {
				continue
			}
			switch ev.action {
			case "UPLOAD":
				uploads++
			case "UPLOADED":
				return nil
			case "FAILED":
				failures = append(failures, ev.hsdir+": "+ev.reason)
			}
		case <-ctx.Done():
			return fmt.Errorf("%w within %s: %d uploads begun, %d failed %v: %w",
				ErrPublish, limit, uploads, len(failures), failures, ctx.Err())
		}
	}
}

// onionListener is the onion service's local listener. Closing it removes
// the service from tor (if tor still runs) and closes the socket.
type onionListener struct {
	t     *Tor
	id    string
	local net.Listener
	addr  onionAddr
	once  sync.Once
	err   error
}

func (l *onionListener) Accept() (net.Conn, error) { return l.local.Accept() }

func (l *onionListener) Addr() net.Addr { return l.addr }

func (l *onionListener) Close() error {
	l.once.Do(func() {
		l.t.mu.Lock()
		if !l.t.closed {
			if err := l.t.bine.Control.DelOnion(l.id); err != nil {
				l.err = fmt.Errorf("tor: DEL_ONION: %w", err)
			}
		}
		if l.t.onion == l {
			l.t.onion = nil
		}
		l.t.mu.Unlock()
		if err := l.local.Close(); err != nil && !errors.Is(err, net.ErrClosed) && l.err == nil {
			l.err = err
		}
	})
	return l.err
}

// onionAddr is a listener address "<id>.onion:port".
type onionAddr string

func (onionAddr) Network() string  { return "onion" }
func (a onionAddr) String() string { return string(a) }

// hsDesc is an HS_DESC control event:
//
//	650 HS_DESC Action HSAddress AuthType HsDir [DescriptorID] [REASON=r] ...
type hsDesc struct {
	action, address, hsdir, reason string
}

// parseHSDesc parses one event line; ok is false for any other line.
func parseHSDesc(line string) (ev hsDesc, ok bool) {
	rest, found := strings.CutPrefix(line, "650 HS_DESC ")
	if !found {
		return hsDesc{}, false
	}
	f := strings.Fields(rest)
	if len(f) < 4 {
		return hsDesc{}, false
	}
	ev = hsDesc{action: f[0], address: f[1], hsdir: f[3]}
	for _, kv := range f[4:] {
		if r, ok := strings.CutPrefix(kv, "REASON="); ok {
			ev.reason = r
		}
	}
	return ev, true
}
