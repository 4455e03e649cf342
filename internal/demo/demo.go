//go:build unix

// Package demo is `make demo`: a whole Loam network on 127.0.0.1 as real
// processes, two people who exchange friend codes, a post with a picture
// delivered through the mixnet and read back — run with the same programs
// and commands a person and an operator use. The end-to-end test runs it
// too.
package demo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"loam/cmd/loam/netfile"
	"loam/internal/localnet"
	"loam/mixnet/directory"
)

// Params are the demo network's parameters: production's, but with cover
// rates high enough that a 200 KiB picture posts and syncs in seconds
// (production: λP = 2/s, which would take two minutes each way) and short
// epochs so the network forms quickly.
func Params() directory.Parameters {
	p := directory.DefaultParameters()
	p.EpochPeriod = 20 * time.Second
	p.Grace = 10 * time.Second
	p.Mu = 10 * time.Millisecond
	p.LambdaP, p.LambdaL, p.LambdaD, p.LambdaM = 60, 2, 2, 2
	return p
}

// Options configure a run.
type Options struct {
	Dir string    // working directory; a temporary one when empty
	Out io.Writer // progress lines; nil discards them
	// Bin is a directory holding loam and loam-node; empty builds them.
	Bin string
	// DefaultRates runs the network at production's mixing delay and
	// cover rates (DefaultParameters) instead of the demo's faster ones;
	// only the epochs stay short, so the network forms in seconds.
	DefaultRates bool
	// PictureKiB is the size of Alice's picture: 0 is 200 KiB, a negative
	// value posts the sentence alone.
	PictureKiB int
}

// params are the network parameters of a run.
func (o *Options) params() directory.Parameters {
	p := Params()
	if o.DefaultRates {
		d := directory.DefaultParameters()
		p.Mu, p.LambdaP, p.LambdaL, p.LambdaD, p.LambdaM = d.Mu, d.LambdaP, d.LambdaL, d.LambdaD, d.LambdaM
	}
	return p
}

// Report is what the demo measured.
type Report struct {
	Delivered      bool          // Bob read Alice's text and picture intact
	Text           string        // what Bob read
	PictureBytes   int           // the picture's size
	PostTime       time.Duration // Alice's post, from command start to all fragments acknowledged
	FirstSync      time.Duration // Bob's first sync, before the post: it reads every mailbox epoch in retention
	SyncTime       time.Duration // Bob's sync after the post
	PostToRead     time.Duration // from Alice starting to post to Bob holding the entry
	Real, Cover    uint64        // packets Alice's and Bob's clients sent
	NetworkUp      time.Duration // from the first process to a ready network
	ProcessesStart int
}

// CoverShare is the share of packets sent that were cover.
func (r *Report) CoverShare() float64 {
	if r.Real+r.Cover == 0 {
		return 0
	}
	return float64(r.Cover) / float64(r.Real+r.Cover)
}

// Run runs the demo.
func Run(ctx context.Context, opts Options) (*Report, error) {
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	dir := opts.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "loam-demo-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	bin := opts.Bin
	if bin == "" {
		say("Building loam and loam-node ...")
		bin = filepath.Join(dir, "bin")
		if err := build(ctx, bin); err != nil {
			return nil, err
		}
	}

	rep := &Report{}
	start := time.Now()
	say("Starting a network on 127.0.0.1: 3 directory authorities, 1 gateway, 2 mixes in each of 3 layers, 3 mailbox replicas ...")
	layout, err := localnet.Generate(localnet.Spec{
		Dir: filepath.Join(dir, "network"), Bin: filepath.Join(bin, "loam-node"),
		ServiceNodes: 3, Services: func(int) []string { return []string{"mailbox"} },
		Params: opts.params(), Bootstrap: 3 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	running, err := layout.Start(ctx)
	if err != nil {
		return nil, err
	}
	defer running.StopAll()
	rep.ProcessesStart = len(layout.Nodes)
	readyCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := running.WaitReady(readyCtx); err != nil {
		return nil, fmt.Errorf("the network did not come up: %w (logs in %s)", err, layout.Spec.Dir)
	}
	rep.NetworkUp = time.Since(start)
	say("  %d processes up, directory signed, links open, in %.1fs.", rep.ProcessesStart, rep.NetworkUp.Seconds())

	netPath := filepath.Join(dir, "network.toml")
	if err := writeNetworkFile(netPath, layout); err != nil {
		return nil, err
	}
	loam := func(who string, args ...string) ([]byte, error) {
		full := append([]string{"--dir", filepath.Join(dir, who), "--json"}, args...)
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "loam"), full...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("loam %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return b, nil
	}

	say("Alice and Bob make their identities and exchange friend codes ...")
	codes := map[string]string{}
	for _, who := range []string{"alice", "bob"} {
		b, err := loam(who, "init", "--name", strings.ToUpper(who[:1])+who[1:], "--network", netPath)
		if err != nil {
			return nil, err
		}
		var r struct {
			Code string `json:"friend_code"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, err
		}
		codes[who] = r.Code
	}
	say("  Alice's code: %s", codes["alice"])
	if _, err := loam("alice", "friend", "add", codes["bob"]); err != nil {
		return nil, err
	}
	if _, err := loam("bob", "friend", "add", codes["alice"]); err != nil {
		return nil, err
	}

	// Bob has used Loam before: his first sync, which reads every mailbox
	// epoch in retention, happens before Alice posts, so the post-to-read
	// time is that of a person who keeps syncing.
	say("Bob syncs once before the post (an empty feed) ...")
	firstStart := time.Now()
	if _, err := loam("bob", "sync"); err != nil {
		return nil, err
	}
	rep.FirstSync = time.Since(firstStart)
	say("  first sync in %.1fs.", rep.FirstSync.Seconds())

	text := "Morning at the lake. Sent through five hops of the Loam mixnet."
	postArgs := []string{"post", text}
	var picture []byte
	if opts.PictureKiB >= 0 {
		kib := opts.PictureKiB
		if kib == 0 {
			kib = 200
		}
		if picture, err = Picture(kib << 10); err != nil {
			return nil, err
		}
		picPath := filepath.Join(dir, "lake.jpg")
		if err := os.WriteFile(picPath, picture, 0o600); err != nil {
			return nil, err
		}
		rep.PictureBytes = len(picture)
		postArgs = append(postArgs, "--attach", picPath)
		say("Alice posts a sentence and a %d KiB picture ...", len(picture)>>10)
	} else {
		say("Alice posts a sentence ...")
	}
	postStart := time.Now()
	b, err := loam("alice", postArgs...)
	if err != nil {
		return nil, err
	}
	rep.PostTime = time.Since(postStart)
	var posted struct {
		Traffic map[string]uint64 `json:"traffic"`
	}
	if err := json.Unmarshal(b, &posted); err != nil {
		return nil, err
	}
	say("  posted in %.1fs: the entry encrypted once, coded into fragments over the 3 replicas, a header in Bob's mailbox.", rep.PostTime.Seconds())

	say("Bob syncs ...")
	syncStart := time.Now()
	b, err = loam("bob", "sync")
	if err != nil {
		return nil, err
	}
	rep.SyncTime = time.Since(syncStart)
	rep.PostToRead = time.Since(postStart)
	var synced syncOutput
	if err := json.Unmarshal(b, &synced); err != nil {
		return nil, err
	}
	for _, t := range []map[string]uint64{posted.Traffic, synced.Traffic} {
		rep.Real += t["real"]
		rep.Cover += t["drop"] + t["loop"]
	}
	want := sha256.Sum256(picture)
	for _, e := range synced.New {
		if e.Author != "Alice" || e.Text != text {
			continue
		}
		switch {
		case picture == nil && len(e.Attachments) == 0,
			picture != nil && len(e.Attachments) == 1 && e.Attachments[0].SHA256 == fmt.Sprintf("%x", want[:]):
			rep.Delivered, rep.Text = true, e.Text
		}
	}
	if _, err := loam("bob", "feed", "--save-attachments", filepath.Join(dir, "bob-saw")); err != nil {
		return nil, err
	}
	if rep.Delivered && picture != nil {
		say("  Bob's feed: \"%s\" from Alice, with %s (%d bytes, identical).", rep.Text, "lake.jpg", len(picture))
	} else if rep.Delivered {
		say("  Bob's feed: \"%s\" from Alice.", rep.Text)
	}
	return rep, nil
}

// syncOutput is what `loam --json sync` prints.
type syncOutput struct {
	New []struct {
		Text        string `json:"text"`
		Author      string `json:"author"`
		Attachments []struct {
			Name   string `json:"name"`
			Size   int    `json:"size"`
			SHA256 string `json:"sha256"`
		} `json:"attachments"`
	} `json:"new"`
	Traffic map[string]uint64 `json:"traffic"`
}

// build compiles loam and loam-node into dir.
func build(ctx context.Context, dir string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(os.PathSeparator), "./cmd/loam", "./cmd/loam-node")
	root, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return err
	}
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(root)))
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, b)
	}
	return nil
}

// writeNetworkFile writes the network file the demo network's operators
// would publish.
func writeNetworkFile(path string, l *localnet.Layout) error {
	p := l.Spec.Params
	n := &netfile.File{Hops: p.Hops, UserPayload: p.UserPayload, Threshold: l.Spec.Threshold}
	n.SetEpochs(p.EpochPeriod, 6*time.Hour)
	for _, peer := range l.Peers {
		n.Authorities = append(n.Authorities, netfile.Authority{Key: base64.StdEncoding.EncodeToString(peer.Key), URL: peer.URL})
	}
	if err := n.Check(); err != nil {
		return err
	}
	return netfile.Write(path, n)
}
