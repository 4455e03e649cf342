package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"loam/cmd/loam/netfile"
	"loam/mailbox"
	"loam/mailbox/feed"
	"loam/mixnet"
	"loam/mixnet/directory"
	"loam/mixnet/link"
	"loam/mixnet/tor"
)

// Files in the data directory.
const (
	fileNetwork  = "network.toml" // the network joined (a copy of the operators' file)
	fileLinkKey  = "link.key"     // the gateway link key: the client's queue at its gateway
	fileStoreKey = "store.key"    // the store's key, unless a passphrase protects it
	dirStore     = "store"        // the feed: identity, friends, entries (encrypted)
	dirDirectory = "directory"    // cached directory documents
	dirTor       = "tor"          // Tor's state when --tor is used
	fileTorOnly  = "tor-only"     // present once --tor was used: no run without it
)

// local is what needs no network: the store and the feed over it.
type local struct {
	g     *globals
	net   *netfile.File
	store *feed.Store
	feed  *feed.Feed
}

// openLocal opens the data directory's store; mb may be nil (offline).
func openLocal(g *globals) (*local, error) {
	if _, err := os.Stat(filepath.Join(g.dir, fileNetwork)); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no Loam data in %s; run `loam init --name YOURNAME --network NETWORK.toml` first, or pass --dir", g.dir)
	}
	n, err := netfile.Read(filepath.Join(g.dir, fileNetwork))
	if err != nil {
		return nil, err
	}
	key, err := storeKey(g, false)
	if err != nil {
		return nil, err
	}
	store, err := feed.OpenStore(filepath.Join(g.dir, dirStore), key)
	key.Wipe()
	if err != nil {
		return nil, fmt.Errorf("opening your store: %w (a passphrase-protected store needs --passphrase-file)", err)
	}
	return &local{g: g, net: n, store: store}, nil
}

func (l *local) close() { l.store.Close() }

// storeKey reads the store's key: from the passphrase file when given, else
// from the key file (made when create is set).
func storeKey(g *globals, create bool) (feed.StoreKey, error) {
	if g.passphraseFile != "" {
		p, err := os.ReadFile(g.passphraseFile)
		if err != nil {
			return feed.StoreKey{}, fmt.Errorf("reading the passphrase: %w", err)
		}
		p = bytes.TrimRight(p, "\r\n")
		defer clear(p)
		if len(p) == 0 {
			return feed.StoreKey{}, errors.New("the passphrase file is empty")
		}
		return feed.KeyFromPassphrase(filepath.Join(g.dir, dirStore), p)
	}
	return feed.KeyFromFile(filepath.Join(g.dir, fileStoreKey), create)
}

// offlineFeed returns a feed for commands that need no network.
func (l *local) offlineFeed() (*feed.Feed, error) {
	f, err := feed.New(l.store, nil, feed.Config{EpochPeriod: l.net.MailboxEpoch.Duration, Logger: l.g.log})
	l.feed = f
	return f, err
}

// session is a connected client: gateway link with cover traffic, mailbox
// access and the feed over them.
type session struct {
	*local
	mc  *mixnet.Client
	mb  *mailbox.Client
	tor *tor.Tor
}

// connect opens the store and joins the network: through Tor with --tor.
// It returns once the gateway link is up.
func connect(ctx context.Context, g *globals) (*session, error) {
	l, err := openLocal(g)
	if err != nil {
		return nil, err
	}
	s := &session{local: l}
	if err := s.start(ctx); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *session) start(ctx context.Context) error {
	g := s.g
	if err := torOnly(g); err != nil {
		return err
	}
	lk, err := linkKey(filepath.Join(g.dir, fileLinkKey))
	if err != nil {
		return err
	}
	peers, err := s.net.Peers()
	if err != nil {
		return err
	}
	fetcher := &directory.Fetcher{Authorities: peers, Threshold: s.net.Threshold,
		CacheDir: filepath.Join(g.dir, dirDirectory), Client: &http.Client{Timeout: 20 * time.Second}, Logger: g.log}
	cfg := mixnet.ClientConfig{Link: lk, Network: s.net.Network(), Directory: fetcher, Cover: true, Logger: g.log}
	wait := time.Minute
	if g.tor {
		t, err := tor.Start(ctx, tor.Config{DataDir: filepath.Join(g.dir, dirTor), ExtraTorrc: s.net.Tor.Torrc, Logger: g.log})
		if err != nil {
			return fmt.Errorf("starting Tor: %w", err)
		}
		s.tor = t
		cfg.Transport, cfg.ViaOnion = t.Transport(), true
		fetcher.Client = torHTTP(t.Transport())
		wait = 3 * time.Minute
	}
	mc, err := mixnet.NewClient(cfg)
	if err != nil {
		return err
	}
	if err := startClient(ctx, mc, wait); err != nil {
		return err
	}
	s.mc = mc
	if err := waitConnected(ctx, mc, wait); err != nil {
		return err
	}
	policy := mailbox.DefaultRetryPolicy
	policy.QueueDelay = mc.QueueDelay
	s.mb = mailbox.NewClient(mc, nil, policy)
	f, err := feed.New(s.store, s.mb, feed.Config{EpochPeriod: s.net.MailboxEpoch.Duration, Logger: g.log})
	if err != nil {
		return err
	}
	s.feed = f
	return nil
}

// startClient starts mc, retrying while no authority has a directory yet
// (a network that is starting up).
func startClient(ctx context.Context, mc *mixnet.Client, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := mc.Start(ctx)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no directory from the network's authorities: %w; check the network file and that the authorities are up", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second): // a retry pace for the user's command, not protocol timing
		}
	}
}

func waitConnected(ctx context.Context, mc *mixnet.Client, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		connected, gw, _ := mc.Status()
		if connected {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("could not reach gateway %s within %v; is the network up? try again, or `loam status`", gw, wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *session) close() {
	if s.mc != nil {
		s.mc.Close()
	}
	if s.tor != nil {
		s.tor.Close()
	}
	s.local.close()
}

// linkKey loads the client's gateway link key, making it on first use.
func linkKey(path string) (link.KeyPair, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		kp, err := link.GenerateKeyPair()
		if err != nil {
			return kp, err
		}
		if err := writeSecret(path, kp.Private[:]); err != nil {
			return kp, err
		}
		return kp, nil
	}
	if err != nil {
		return link.KeyPair{}, err
	}
	defer clear(b)
	if len(b) != 32 {
		return link.KeyPair{}, fmt.Errorf("%s: %d bytes, want 32; delete it to make a new link key", path, len(b))
	}
	return link.KeyPairFromPrivate([32]byte(b))
}

// writeSecret writes a new secret file, mode 0600, refusing to replace one.
func writeSecret(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir makes the entries of dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// torHTTP is an HTTP client whose every connection goes through Tor (to
// the authorities through an exit), so that with --tor no server of the
// network learns this machine's address, the authorities included. Names go
// to tor unresolved; no proxy from the environment applies.
func torHTTP(tr link.Transport) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return tr.Dial(ctx, addr)
		},
		DisableKeepAlives: true,
	}}
}

// errTorOnly refuses a run without --tor in a data directory that used Tor.
var errTorOnly = errors.New("this identity has used Tor: run with --tor. " +
	"Without it the gateway and the directory authorities would see your IP address, " +
	"and the gateway could tie it to every earlier Tor session of this identity " +
	"(it knows the identity's link key). To stop using Tor for good, remove the file")

// torOnly makes --tor stick to a data directory: the first network command
// with --tor leaves a mark, and a later one without it is refused before
// anything leaves the machine.
func torOnly(g *globals) error {
	mark := filepath.Join(g.dir, fileTorOnly)
	if g.tor {
		if _, err := os.Stat(mark); err == nil {
			return nil
		}
		note := "Loam: this identity reaches the network through Tor; loam refuses to run without --tor while this file exists.\n"
		// On disk, directory entry included, before anything is sent: a
		// crash must not forget that this link key has been used over Tor.
		if err := writeSecret(mark, []byte(note)); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("recording that this identity uses Tor: %w", err)
		}
		if err := syncDir(g.dir); err != nil {
			return fmt.Errorf("recording that this identity uses Tor: %w", err)
		}
		return nil
	}
	if _, err := os.Stat(mark); err == nil {
		return fmt.Errorf("%w %s", errTorOnly, mark)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("checking %s: %w", mark, err)
	}
	return nil
}
