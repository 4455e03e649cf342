package tor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cretz/bine/control"
	bine "github.com/cretz/bine/tor"
)

// Config configures a Tor. Zero values take the defaults noted.
type Config struct {
	// Path is the tor program; default "tor" on PATH (or /usr/sbin/tor).
	Path string
	// DataDir is tor's DataDirectory (made 0700). The onion service key
	// lives in it too, so a gateway keeps its address across restarts.
	// Required.
	DataDir string
	// ExtraTorrc are torrc lines, one option each: bridges for a client,
	// or a private test network's lines (internal/tornet ClientTorrc).
	ExtraTorrc []string
	// BootstrapTimeout bounds Start's wait for tor to bootstrap; 3 minutes.
	BootstrapTimeout time.Duration
	// PublishTimeout bounds ListenOnion's wait for the descriptor upload
	// (besides its context); 3 minutes.
	PublishTimeout time.Duration
	Logger         *slog.Logger
}

// Tor is a running tor process driven through its control port.
type Tor struct {
	cfg    Config
	log    *slog.Logger
	bine   *bine.Tor
	proc   *proc
	logs   *logSink
	stop   context.CancelFunc // ends the process (SIGTERM, then SIGKILL)
	dialer *bine.Dialer
	socks  string

	mu       sync.Mutex // guards closed, onion and every use of bine.Control
	closed   bool
	onion    *onionListener
	closeErr error
}

// checkTorrc, when set (by tests), sees every torrc before tor is launched
// on it and can refuse it.
var checkTorrc func(path string) error

// Start launches tor, waits until it has bootstrapped and returns it. ctx
// bounds only the start; Close ends the process.
func Start(ctx context.Context, cfg Config) (*Tor, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	path, err := lookTor(cfg.Path)
	if err != nil {
		return nil, err
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("tor: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("tor: %w", err)
	}
	if err := os.Chmod(dataDir, 0o700); err != nil { // tor refuses a DataDirectory others can read
		return nil, fmt.Errorf("tor: %w", err)
	}
	torrc := filepath.Join(dataDir, "torrc")
	if err := os.WriteFile(torrc, torrcText(cfg.ExtraTorrc), 0o600); err != nil {
		return nil, fmt.Errorf("tor: %w", err)
	}
	if checkTorrc != nil {
		if err := checkTorrc(torrc); err != nil {
			return nil, err
		}
	}
	t := &Tor{cfg: cfg, log: cfg.Logger, logs: &logSink{log: cfg.Logger}}
	t.cfg.DataDir = dataDir
	// The process lives until Close, not until ctx ends.
	life, stop := context.WithCancel(context.Background())
	t.stop = stop
	cr := &creator{path: path, logs: t.logs, start: ctx}
	started := time.Now()
	bt, err := bine.Start(life, &bine.StartConf{
		ProcessCreator: cr,
		DataDir:        dataDir,
		TorrcFile:      torrc,
		// Notice-level logs to our logger ("+" adds to any Log lines of
		// ExtraTorrc instead of replacing them); --hush would keep only
		// warnings.
		NoHush:    true,
		ExtraArgs: []string{"+Log", "notice stdout"},
	})
	t.bine, t.proc = bt, cr.proc
	if err != nil {
		t.kill()
		return nil, fmt.Errorf("tor: starting tor: %w", err)
	}
	t.log = cfg.Logger.With("tor_pid", t.proc.pid())
	if err := t.bootstrap(ctx); err != nil {
		return nil, errors.Join(err, t.Close())
	}
	if err := t.openDialer(ctx); err != nil {
		return nil, errors.Join(err, t.Close())
	}
	t.log.Info("tor bootstrapped", "after", time.Since(started).Round(time.Millisecond), "socks", t.socks)
	return t, nil
}

func (c *Config) check() error {
	if c.DataDir == "" {
		return fmt.Errorf("%w: DataDir is required", ErrConfig)
	}
	for _, l := range c.ExtraTorrc {
		if strings.ContainsAny(l, "\r\n\x00") {
			return fmt.Errorf("%w: torrc line %q holds a line break or NUL", ErrConfig, l)
		}
	}
	if c.BootstrapTimeout <= 0 {
		c.BootstrapTimeout = DefaultBootstrapTimeout
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// torrcText is the torrc file: ExtraTorrc, one line each. Everything this
// package itself needs (DataDirectory, control and SOCKS ports on
// 127.0.0.1) goes on tor's command line, which overrides the file.
func torrcText(extra []string) []byte {
	var b strings.Builder
	b.WriteString("# Written by loam mixnet/tor: Config.ExtraTorrc.\n")
	for _, l := range extra {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// bootstrap turns the network on and waits until tor reports 100 %, the
// deadline passes or tor exits.
func (t *Tor) bootstrap(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.BootstrapTimeout)
	defer cancel()
	// bine started tor with DisableNetwork 1, so nothing is fetched before
	// this point.
	if err := t.bine.Control.SetConf(control.KeyVals("DisableNetwork", "0")...); err != nil {
		return fmt.Errorf("%w: enabling the network: %w; tor's log ends:\n%s", ErrBootstrap, err, t.logs.tail())
	}
	last := bootstrapStatus{}
	for {
		kv, err := t.bine.Control.GetInfo("status/bootstrap-phase")
		if err != nil {
			return fmt.Errorf("%w: asking tor: %w; tor's log ends:\n%s", ErrBootstrap, err, t.logs.tail())
		}
		if len(kv) == 1 {
			last = parseBootstrap(kv[0].Val)
		}
		if last.progress == 100 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w within %s (last: %s); tor's log ends:\n%s",
				ErrBootstrap, t.cfg.BootstrapTimeout, last, t.logs.tail())
		case <-t.proc.done:
			return fmt.Errorf("%w: tor exited (%v); its log ends:\n%s", ErrBootstrap, t.proc.err, t.logs.tail())
		case <-time.After(pollEvery): // watching tor; no protocol timing
		}
	}
}

// bootstrapStatus is tor's answer to GETINFO status/bootstrap-phase, e.g.
// `NOTICE BOOTSTRAP PROGRESS=50 TAG=loading_descriptors SUMMARY="Loading
// relay descriptors"` (control-spec, "Bootstrap status events").
type bootstrapStatus struct {
	progress int
	summary  string
	warning  string
}

func parseBootstrap(s string) bootstrapStatus {
	words, args := statusFields(s)
	var st bootstrapStatus
	if len(words) < 2 || words[1] != "BOOTSTRAP" {
		return st
	}
	if p, err := strconv.Atoi(args["PROGRESS"]); err == nil && p >= 0 && p <= 100 {
		st.progress = p
	}
	st.summary = args["SUMMARY"]
	st.warning = args["WARNING"]
	return st
}

// statusFields splits a status line into its leading words and its
// KEY=VALUE arguments, whose values may be quoted strings with backslash
// escapes (control-spec: QuotedString).
func statusFields(s string) (words []string, args map[string]string) {
	args = map[string]string{}
	for s != "" {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			break
		}
		key, rest, isArg := strings.Cut(s, "=")
		if !isArg || strings.Contains(key, " ") {
			word, after, _ := strings.Cut(s, " ")
			words = append(words, word)
			s = after
			continue
		}
		var val string
		val, s = statusValue(rest)
		args[key] = val
	}
	return words, args
}

// statusValue reads one value, quoted or bare, and returns the rest.
func statusValue(s string) (val, rest string) {
	if !strings.HasPrefix(s, `"`) {
		val, rest, _ = strings.Cut(s, " ")
		return val, rest
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:]
		case '\\':
			if i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					b.WriteByte('\n')
				case 't':
					b.WriteByte('\t')
				default:
					b.WriteByte(s[i])
				}
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), "" // unterminated: take what there is
}

func (s bootstrapStatus) String() string {
	out := fmt.Sprintf("%d%% %q", s.progress, s.summary)
	if s.warning != "" {
		out += fmt.Sprintf(", warning %q", s.warning)
	}
	return out
}

func (t *Tor) openDialer(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	d, err := t.bine.Dialer(ctx, &bine.DialConf{SkipEnableNetwork: true})
	if err != nil {
		return fmt.Errorf("tor: finding the SOCKS port: %w", err)
	}
	kv, err := t.bine.Control.GetInfo("net/listeners/socks")
	if err == nil && len(kv) == 1 {
		t.socks = strings.Trim(kv[0].Val, `"`)
	}
	t.dialer = d
	return nil
}

// PID is the tor process's id.
func (t *Tor) PID() int { return t.proc.pid() }

// SocksAddr is tor's SOCKS listener ("127.0.0.1:port").
func (t *Tor) SocksAddr() string { return t.socks }

// Close stops tor and waits until the process is gone: HALT on the control
// port, SIGTERM if tor is still there 2 s later, SIGKILL 2 s after that.
// It closes the onion service's listener too.
func (t *Tor) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return t.closeErr
	}
	t.closed = true
	if t.onion != nil {
		t.onion.local.Close() // its Accept now fails with net.ErrClosed
	}
	// bine's Close sends HALT and waits only 300 ms; its error then says
	// only that the process is still there, which the wait below settles.
	_ = t.bine.Close()
	select {
	case <-t.proc.done:
	case <-time.After(haltGrace):
		t.log.Warn("tor ignored HALT; terminating it")
	}
	t.kill()
	if !t.proc.exited() {
		t.closeErr = fmt.Errorf("tor: tor process %d did not exit", t.proc.pid())
	}
	return t.closeErr
}

// kill ends the process if it is still there (SIGTERM, SIGKILL killGrace
// later) and waits for it.
func (t *Tor) kill() {
	t.stop()
	if t.proc == nil || t.proc.cmd.Process == nil {
		return
	}
	select {
	case <-t.proc.done:
	case <-time.After(2*killGrace + time.Second):
	}
}
