package tor

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// watchHSDesc opens a control connection of its own, subscribed to HS_DESC
// events, and delivers them until ctx ends (then it closes the connection
// and the channel). A separate connection keeps bine's, which serves
// requests, free of a reader that must keep pace with events.
func (t *Tor) watchHSDesc(ctx context.Context) (<-chan hsDesc, error) {
	t.mu.Lock()
	closed, port := t.closed, t.bine.ControlPort
	t.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("tor: control port: %w", err)
	}
	r := textproto.NewReader(bufio.NewReader(conn))
	if err := t.authenticate(conn, r); err != nil {
		conn.Close()
		return nil, err
	}
	if err := command(conn, r, "SETEVENTS HS_DESC"); err != nil {
		conn.Close()
		return nil, err
	}
	events := make(chan hsDesc, 64)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	go func() {
		defer close(events)
		defer stop()
		defer conn.Close()
		for {
			line, err := r.ReadLine()
			if err != nil {
				return
			}
			ev, ok := parseHSDesc(line)
			if !ok {
				continue
			}
			select {
			case events <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return events, nil
}

// authenticate uses tor's cookie (CookieAuthentication, which bine turns
// on): the cookie file in DataDir, sent in hex.
func (t *Tor) authenticate(conn net.Conn, r *textproto.Reader) error {
	cookie, err := os.ReadFile(filepath.Join(t.cfg.DataDir, "control_auth_cookie"))
	if err != nil {
		return fmt.Errorf("tor: control cookie: %w", err)
	}
	defer clear(cookie)
	return command(conn, r, "AUTHENTICATE "+hex.EncodeToString(cookie))
}

// command sends one control command and expects "250 OK".
func command(conn net.Conn, r *textproto.Reader, cmd string) error {
	if _, err := conn.Write([]byte(cmd + "\r\n")); err != nil {
		return fmt.Errorf("tor: control port: %w", err)
	}
	line, err := r.ReadLine()
	if err != nil {
		return fmt.Errorf("tor: control port: %w", err)
	}
	if !strings.HasPrefix(line, "250") {
		verb, _, _ := strings.Cut(cmd, " ")
		return fmt.Errorf("tor: control port refused %s: %s", verb, line)
	}
	return nil
}
