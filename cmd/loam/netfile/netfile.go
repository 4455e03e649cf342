// Package netfile is the network file: the description of a Loam network
// that its operators publish and a person's client keeps in its data
// directory — what a client must know before it can read the network's
// signed directory: the packet geometry, the epoch lengths, the directory
// authorities and, for private test networks, extra Tor settings.
package netfile

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"loam/mixnet"
	"loam/mixnet/directory"
	"loam/onion"
)

// File is a network file.
type File struct {
	Hops         int         `toml:"hops"`
	UserPayload  int         `toml:"user_payload"`
	EpochPeriod  duration    `toml:"epoch_period"`
	MailboxEpoch duration    `toml:"mailbox_epoch"`
	Threshold    int         `toml:"threshold"`
	Authorities  []Authority `toml:"authorities"`
	Tor          struct {
		// Torrc lines for a private Tor network; empty means the real one.
		Torrc []string `toml:"torrc"`
	} `toml:"tor"`
}

// Authority is one directory authority: its Ed25519 key (base64) and URL.
type Authority struct {
	Key string `toml:"key"`
	URL string `toml:"url"`
}

// duration is a TOML duration string such as "20m".
type duration struct{ time.Duration }

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	d.Duration = v
	return err
}

func (d duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Read reads and checks a network file; errors name the field.
func Read(path string) (*File, error) {
	var n File
	md, err := toml.DecodeFile(path, &n)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("%s: unknown key %q; check the spelling against the network's published file", path, und[0].String())
	}
	if err := n.Check(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &n, nil
}

// Check validates n and fills in defaults: mailbox_epoch 6h, threshold a
// bare majority.
func (n *File) Check() error {
	g := onion.Geometry{Hops: n.Hops, UserPayload: n.UserPayload}
	if err := g.Validate(); err != nil {
		return fmt.Errorf("hops, user_payload: %w", err)
	}
	if n.EpochPeriod.Duration < time.Second {
		return errors.New("epoch_period: must be at least 1s (the network's directory epoch, for example \"20m\")")
	}
	if n.MailboxEpoch.Duration == 0 {
		n.MailboxEpoch.Duration = 6 * time.Hour
	}
	if n.MailboxEpoch.Duration < time.Second || n.MailboxEpoch.Duration%time.Second != 0 {
		return errors.New("mailbox_epoch: must be a whole number of seconds, at least 1s")
	}
	if len(n.Authorities) == 0 {
		return errors.New("authorities: the network names no directory authority")
	}
	if _, err := n.Peers(); err != nil {
		return err
	}
	if n.Threshold == 0 {
		n.Threshold = len(n.Authorities)/2 + 1
	}
	if n.Threshold <= len(n.Authorities)/2 || n.Threshold > len(n.Authorities) {
		return fmt.Errorf("threshold: %d of %d authorities is not a majority", n.Threshold, len(n.Authorities))
	}
	return nil
}

// Peers returns the authorities as directory peers.
func (n *File) Peers() ([]directory.Peer, error) {
	var out []directory.Peer
	for i, a := range n.Authorities {
		k, err := base64.StdEncoding.DecodeString(a.Key)
		if err != nil || len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("authorities[%d].key: want the authority's Ed25519 key in base64 (44 characters)", i)
		}
		if !strings.HasPrefix(a.URL, "http://") && !strings.HasPrefix(a.URL, "https://") {
			return nil, fmt.Errorf("authorities[%d].url: want an http:// or https:// URL, got %q", i, a.URL)
		}
		out = append(out, directory.Peer{Key: ed25519.PublicKey(k), URL: strings.TrimRight(a.URL, "/")})
	}
	return out, nil
}

// Network returns what mixnet needs to know of the network.
func (n *File) Network() mixnet.Network {
	return mixnet.Network{Geometry: onion.Geometry{Hops: n.Hops, UserPayload: n.UserPayload}, EpochPeriod: n.EpochPeriod.Duration}
}

// SetEpochs sets the two epoch lengths.
func (n *File) SetEpochs(directoryEpoch, mailboxEpoch time.Duration) {
	n.EpochPeriod.Duration, n.MailboxEpoch.Duration = directoryEpoch, mailboxEpoch
}

// Write writes n to path, mode 0644: a network file is public.
func Write(path string, n *File) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if err := toml.NewEncoder(f).Encode(n); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
