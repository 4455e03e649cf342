package webui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"loam/internal/clock"
	"loam/mailbox/feed"
)

// ErrConfig reports a Config that New cannot serve safely.
var ErrConfig = errors.New("webui: invalid config")

// Config shapes a Server.
type Config struct {
	// Feed is the user's feed. Required. A feed without a mailbox client
	// serves every page; posting to friends and syncing then fail with
	// feed.ErrOffline.
	Feed *feed.Feed
	// Addr is the loopback address and port the handler is served on, as
	// net.Listener.Addr().String() gives it ("127.0.0.1:43117"). Required:
	// requests are answered only when their Host names this port.
	Addr string
	// Token is the per-run secret that the URL carries once. Required, at
	// least 32 characters; NewToken makes one.
	Token string
	// Status reports the client's connection; nil shows the feed as
	// offline. It is called on every status page and must be quick.
	Status func() Status
	// SyncInterval, when positive, syncs once at start and then this long
	// after each sync ends. Zero syncs only when the user asks.
	SyncInterval time.Duration
	Clock        clock.Clock
	Logger       *slog.Logger
}

// Status is what the status page shows of the client's connection.
type Status struct {
	Connected bool
	Gateway   string
	Tor       bool   // the gateway link goes through Tor
	Directory string // the directory's epoch and node count, or why it is stale
	// Cover reports whether cover traffic runs; the rates are the
	// directory's (packets per second).
	Cover                              bool
	RealOrDropRate, LoopRate, DropRate float64
	RealSent, DropSent, LoopSent       uint64
	// Pending is the real packets waiting for a slot in the cover stream.
	Pending int
	// LoopAlarm reports more loop packets lost than link failures explain.
	LoopAlarm bool
	Error     string
}

// Server is the web UI's http.Handler.
type Server struct {
	cfg        Config
	feed       *feed.Feed
	log        *slog.Logger
	clk        clock.Clock
	mux        *http.ServeMux
	hosts      map[string]bool // Host headers accepted: loopback names with the port
	cookieName string
	pages      *pages

	ctx    context.Context // ends at Close; posts and syncs run under it
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	sessions sessions
	jobs     jobs
	syncing  *job       // the sync running now, if any
	lastSync syncReport // the last sync that finished
	timer    clock.Timer
	closed   bool
	qr       []byte // the friend code's QR code, made on first request
}

// New returns the web UI of cfg.Feed. Close stops its posts and syncs.
func New(cfg Config) (*Server, error) {
	if cfg.Feed == nil {
		return nil, fmt.Errorf("%w: a feed is required", ErrConfig)
	}
	if len(cfg.Token) < minTokenLen {
		return nil, fmt.Errorf("%w: the token is %d characters, want at least %d", ErrConfig, len(cfg.Token), minTokenLen)
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil || port == "" || port == "0" {
		return nil, fmt.Errorf("%w: address %q: want the loopback host and port being served", ErrConfig, cfg.Addr)
	}
	if !IsLoopback(host) {
		return nil, fmt.Errorf("%w: %s is not a loopback address; the UI serves only this machine", ErrConfig, host)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	pg, err := parsePages()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg: cfg, feed: cfg.Feed, log: cfg.Logger, clk: cfg.Clock, pages: pg,
		hosts: map[string]bool{
			"127.0.0.1:" + port: true,
			"localhost:" + port: true,
			"[::1]:" + port:     true,
		},
		cookieName: cookiePrefix + port,
		ctx:        ctx, cancel: cancel,
		sessions: newSessions(),
		jobs:     newJobs(),
	}
	s.routes()
	if cfg.SyncInterval > 0 {
		s.mu.Lock()
		s.startSyncLocked()
		s.mu.Unlock()
	}
	return s, nil
}

// IsLoopback reports whether host (an IP address or "localhost") names
// this machine's loopback interface.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return err == nil && a.Zone() == "" && a.IsLoopback()
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", s.timeline)
	m.HandleFunc("GET /compose", s.compose)
	m.HandleFunc("POST /post", s.post)
	m.HandleFunc("GET /friends", s.friends)
	m.HandleFunc("POST /friends", s.addFriend)
	m.HandleFunc("GET /status", s.status)
	m.HandleFunc("POST /sync", s.sync)
	m.HandleFunc("GET /api/jobs/{id}", s.jobJSON)
	m.HandleFunc("GET /api/status", s.statusJSON)
	m.HandleFunc("GET /attachments/{entry}/{n}", s.attachment)
	m.HandleFunc("GET /friend-code.png", s.qrCode)
	m.Handle("GET /static/", staticFiles())
	s.mux = m
}

// ServeHTTP applies the security checks every request passes (guard.go,
// auth.go), then routes it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	if !s.hosts[strings.ToLower(r.Host)] {
		s.refuse(w, r, http.StatusMisdirectedRequest, "the Host header does not name this machine's loopback address and this port")
		return
	}
	if r.Method == http.MethodGet && r.URL.Query().Has(tokenParam) {
		s.exchangeToken(w, r)
		return
	}
	sess := s.session(r)
	if sess == nil {
		s.refuse(w, r, http.StatusForbidden, "no session: open the URL that `loam ui` printed (it carries a secret token)")
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPost:
		if err := sameOrigin(r); err != nil {
			s.refuse(w, r, http.StatusForbidden, err.Error())
			return
		}
		limit := int64(maxFormBytes)
		if r.URL.Path == "/post" {
			limit = maxUploadBytes
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		s.refuse(w, r, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	s.mux.ServeHTTP(w, r.WithContext(withSession(r.Context(), sess)))
}

// refuse answers a request that fails a check, in plain text.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, code int, why string) {
	level := slog.LevelWarn
	if code == http.StatusForbidden && r.Method == http.MethodGet {
		level = slog.LevelInfo // a stale tab or a lost cookie, most likely
	}
	s.log.Log(r.Context(), level, "webui: refused", "method", r.Method, "path", r.URL.Path, "host", r.Host, "status", code, "why", why)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintf(w, "Loam refused this request: %s.\n", why)
}

// Close cancels the posts and syncs running and waits for them to stop.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}
