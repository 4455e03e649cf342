package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"mime"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"loam/cmd/loam/netfile"
	"loam/mailbox"
	"loam/mailbox/feed"
)

// commandContext ends on SIGINT or SIGTERM, so a long post or sync stops
// cleanly.
func commandContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func cmdInit(g *globals, args []string) error {
	fset := flag.NewFlagSet("init", flag.ContinueOnError)
	name := fset.String("name", "", "the name your friends will see")
	network := fset.String("network", "", "the network file your network's operators publish")
	pos, err := flags(fset, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if *name == "" {
		return usagef("--name: give the name your friends will see")
	}
	if *network == "" {
		return usagef("--network: give the network file your network's operators publish")
	}
	if _, err := os.Stat(filepath.Join(g.dir, fileNetwork)); err == nil {
		return fmt.Errorf("%s already holds a Loam identity; use another --dir for a second one", g.dir)
	}
	raw, err := os.ReadFile(*network)
	if err != nil {
		return fmt.Errorf("reading the network file: %w", err)
	}
	if _, err := netfile.Read(*network); err != nil {
		return err
	}
	if err := os.MkdirAll(g.dir, 0o700); err != nil {
		return err
	}
	key, err := storeKey(g, true)
	if err != nil {
		return err
	}
	store, err := feed.OpenStore(filepath.Join(g.dir, dirStore), key)
	key.Wipe()
	if err != nil {
		return err
	}
	defer store.Close()
	f, err := feed.New(store, nil, feed.Config{Logger: g.log})
	if err != nil {
		return err
	}
	id, err := f.Init(*name)
	if err != nil {
		return err
	}
	if _, err := linkKey(filepath.Join(g.dir, fileLinkKey)); err != nil {
		return err
	}
	// The network file goes in last: its presence marks a finished init.
	if err := os.WriteFile(filepath.Join(g.dir, fileNetwork), raw, 0o600); err != nil {
		return err
	}
	if g.json {
		return printJSON(g, map[string]string{"name": id.Name(), "friend_code": id.FriendCode(), "dir": g.dir})
	}
	printf(g, "Made %s's identity in %s.\n\nYour friend code (give it to your friends):\n\n  %s\n\n", id.Name(), g.dir, id.FriendCode())
	printf(g, "Next: add a friend with `loam friend add CODE`, then `loam post \"hello\"`.\n")
	return nil
}

func cmdFriend(g *globals, args []string) error {
	if len(args) == 0 {
		return usagef("say code, add CODE or list")
	}
	l, err := openLocal(g)
	if err != nil {
		return err
	}
	defer l.close()
	f, err := l.offlineFeed()
	if err != nil {
		return err
	}
	switch args[0] {
	case "code":
		id, err := f.Identity()
		if err != nil {
			return err
		}
		if g.json {
			return printJSON(g, map[string]string{"name": id.Name(), "friend_code": id.FriendCode(), "fingerprint": id.Public().Fingerprint()})
		}
		printf(g, "%s\n", id.FriendCode())
		return nil
	case "add":
		if len(args) != 2 {
			return usagef("friend add takes one friend code (quote it if it has spaces)")
		}
		p, err := f.AddFriend(args[1])
		if err != nil {
			return err
		}
		if g.json {
			return printJSON(g, publicJSON(p))
		}
		printf(g, "Added %s. They must add your code too (`loam friend code`) before you see each other's posts.\n", p)
		return nil
	case "list":
		friends, err := f.Friends()
		if err != nil {
			return err
		}
		if g.json {
			out := []any{}
			for _, p := range friends {
				out = append(out, publicJSON(p))
			}
			return printJSON(g, out)
		}
		if len(friends) == 0 {
			printf(g, "No friends yet: add one with `loam friend add CODE`.\n")
		}
		for _, p := range friends {
			printf(g, "%s\n", p)
		}
		return nil
	}
	return usagef("unknown friend command %q: say code, add CODE or list", args[0])
}

func publicJSON(p feed.Public) map[string]string {
	return map[string]string{"name": p.Name, "fingerprint": p.Fingerprint(), "friend_code": p.FriendCode()}
}

func cmdPost(g *globals, args []string) error {
	fset := flag.NewFlagSet("post", flag.ContinueOnError)
	var attach multi
	fset.Var(&attach, "attach", "a file to attach (a photo); repeat for more")
	pos, err := flags(fset, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("post takes the text as one argument (quote it)")
	}
	atts, err := readAttachments(attach)
	if err != nil {
		return err
	}
	ctx, stop := commandContext()
	defer stop()
	s, err := connect(ctx, g)
	if err != nil {
		return err
	}
	defer s.close()
	update, finish := progress(g, "posting")
	start := time.Now()
	e, err := s.feed.Post(ctx, pos[0], atts, update)
	finish()
	if err != nil {
		return err
	}
	if g.json {
		return printJSON(g, map[string]any{"entry": entryJSON(e), "seconds": time.Since(start).Seconds(), "traffic": s.traffic()})
	}
	printf(g, "Posted %s in %.1fs.\n", e.ID.String()[:12], time.Since(start).Seconds())
	return nil
}

func readAttachments(paths []string) ([]feed.Attachment, error) {
	var out []feed.Attachment
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("attachment: %w", err)
		}
		typ := mime.TypeByExtension(strings.ToLower(filepath.Ext(p)))
		if typ == "" {
			typ = http.DetectContentType(data)
		}
		typ, _, _ = strings.Cut(typ, ";")
		out = append(out, feed.Attachment{Name: filepath.Base(p), Type: typ, Data: data})
	}
	return out, nil
}

func cmdSync(g *globals, args []string) error {
	if _, err := flags(flag.NewFlagSet("sync", flag.ContinueOnError), args); err != nil {
		return err
	}
	ctx, stop := commandContext()
	defer stop()
	s, err := connect(ctx, g)
	if err != nil {
		return err
	}
	defer s.close()
	update, finish := progress(g, "syncing")
	entries, err := s.feed.Sync(ctx, update)
	finish()
	if g.json {
		out := []any{}
		for _, e := range entries {
			out = append(out, entryJSON(e))
		}
		res := map[string]any{"new": out, "traffic": s.traffic()}
		if err != nil {
			res["error"] = err.Error()
		}
		if perr := printJSON(g, res); perr != nil {
			return perr
		}
		return err
	}
	for _, e := range entries {
		printEntry(g, e)
	}
	printf(g, "%d new entries.\n", len(entries))
	return err
}

func cmdFeed(g *globals, args []string) error {
	fset := flag.NewFlagSet("feed", flag.ContinueOnError)
	limit := fset.Int("limit", 20, "how many entries")
	save := fset.String("save-attachments", "", "write attachments into this directory")
	if _, err := flags(fset, args); err != nil {
		return err
	}
	l, err := openLocal(g)
	if err != nil {
		return err
	}
	defer l.close()
	f, err := l.offlineFeed()
	if err != nil {
		return err
	}
	entries, err := f.Timeline(*limit)
	if err != nil {
		return err
	}
	if *save != "" {
		if err := saveAttachments(*save, entries); err != nil {
			return err
		}
	}
	if g.json {
		out := []any{}
		for _, e := range entries {
			out = append(out, entryJSON(e))
		}
		return printJSON(g, out)
	}
	if len(entries) == 0 {
		printf(g, "Nothing yet: `loam sync` fetches what friends shared.\n")
	}
	for _, e := range entries {
		printEntry(g, e)
	}
	return nil
}

func saveAttachments(dir string, entries []*feed.Entry) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, e := range entries {
		for _, a := range e.Attachments {
			name := e.ID.String()[:12] + "-" + filepath.Base(a.Name)
			if err := os.WriteFile(filepath.Join(dir, name), a.Data, 0o600); err != nil {
				return err
			}
		}
	}
	return nil
}

func entryJSON(e *feed.Entry) map[string]any {
	atts := []any{}
	for _, a := range e.Attachments {
		sum := sha256.Sum256(a.Data)
		atts = append(atts, map[string]any{"name": a.Name, "type": a.Type, "size": len(a.Data), "sha256": hex.EncodeToString(sum[:])})
	}
	return map[string]any{"id": e.ID.String(), "author": e.Author.Name, "fingerprint": e.Author.Fingerprint(),
		"time": e.Time.UTC().Format(time.RFC3339), "text": e.Text, "attachments": atts}
}

func printEntry(g *globals, e *feed.Entry) {
	printf(g, "%s  %s\n  %s\n", e.Time.Local().Format("2006-01-02 15:04"), e.Author, e.Text)
	for _, a := range e.Attachments {
		printf(g, "  [%s, %s, %s]\n", a.Name, a.Type, humanBytes(len(a.Data)))
	}
}

func cmdStatus(g *globals, args []string) error {
	fset := flag.NewFlagSet("status", flag.ContinueOnError)
	offline := fset.Bool("offline", false, "report the local store only; do not connect")
	if _, err := flags(fset, args); err != nil {
		return err
	}
	st := map[string]any{"dir": g.dir, "tor": g.tor}
	var s *session
	var connErr error
	if *offline {
		l, err := openLocal(g)
		if err != nil {
			return err
		}
		defer l.close()
		if _, err := l.offlineFeed(); err != nil {
			return err
		}
		s = &session{local: l}
	} else {
		ctx, stop := commandContext()
		defer stop()
		s, connErr = connect(ctx, g)
		if connErr != nil {
			l, err := openLocal(g)
			if err != nil {
				return err
			}
			defer l.close()
			if _, err := l.offlineFeed(); err != nil {
				return err
			}
			s = &session{local: l}
		} else {
			defer s.close()
		}
	}
	if id, err := s.feed.Identity(); err == nil {
		st["name"] = id.Name()
	}
	friends, _ := s.feed.Friends()
	entries, _ := s.feed.Timeline(1 << 20)
	st["friends"], st["entries"] = len(friends), len(entries)
	if s.mc != nil {
		connected, gw, stale := s.mc.Status()
		st["connected"], st["gateway"] = connected, gw
		if stale != nil {
			st["directory"] = stale.Error()
		} else if doc, err := s.mc.Document(); err == nil {
			st["directory"] = fmt.Sprintf("epoch %d, %d nodes, verified", doc.Epoch, len(doc.Nodes))
			st["cover_rates_per_s"] = map[string]float64{"real_or_drop": doc.Params.LambdaP, "loop": doc.Params.LambdaL, "drop": doc.Params.LambdaD}
		}
		if stats, loops, ok := s.mc.CoverStatus(); ok {
			st["cover"] = stats
			st["pending_deliveries"] = stats.Queued
			st["loop_alarm"] = loops.Alarm
		}
	} else {
		st["connected"] = false
		if connErr != nil {
			st["error"] = connErr.Error()
		}
	}
	if g.json {
		return printJSON(g, st)
	}
	printf(g, "%s: %v friends, %v entries in %s\n", st["name"], st["friends"], st["entries"], g.dir)
	switch {
	case *offline:
		printf(g, "network: not checked (--offline)\n")
	case s.mc == nil:
		printf(g, "network: not connected: %v\n", connErr)
	default:
		via := "direct TCP (the gateway sees your IP address; use --tor to hide it)"
		if g.tor {
			via = "Tor (the gateway does not see your IP address)"
		}
		printf(g, "gateway: %s, connected via %s\ndirectory: %s\n", st["gateway"], via, st["directory"])
		if stats, loops, ok := s.mc.CoverStatus(); ok {
			printf(g, "cover traffic: on; %d real, %d drop, %d loop packets sent; %d waiting for a slot\n",
				stats.Real, stats.Drop+stats.DropStream, stats.Loop, stats.Queued)
			if loops.Alarm {
				printf(g, "WARNING: your loop packets are being lost beyond what link failures explain (%.0f%% of %d): someone may be attacking the mixes on your paths\n", 100*loops.Loss, loops.Judged)
			}
		}
	}
	return nil
}

func cmdDeposit(g *globals, args []string) error {
	fset := flag.NewFlagSet("deposit", flag.ContinueOnError)
	seedHex := fset.String("seed", "", "the mailbox capability's 32-byte seed, hex")
	text := fset.String("text", "", "the blob, as text")
	file := fset.String("file", "", "the blob, from a file")
	if _, err := flags(fset, args); err != nil {
		return err
	}
	seed, err := hex.DecodeString(*seedHex)
	if err != nil || len(seed) != 32 {
		return usagef("--seed: want 64 hex digits")
	}
	blob := []byte(*text)
	if *file != "" {
		if blob, err = os.ReadFile(*file); err != nil {
			return err
		}
	}
	ctx, stop := commandContext()
	defer stop()
	s, err := connect(ctx, g)
	if err != nil {
		return err
	}
	defer s.close()
	cp := mailbox.NewCapability([32]byte(seed))
	replicas, err := s.mb.Replicas(cp.ID())
	if err != nil {
		return err
	}
	seq, err := s.mb.Deposit(ctx, replicas[0], cp, blob)
	if err != nil {
		return err
	}
	id := cp.ID()
	if g.json {
		return printJSON(g, map[string]any{"id": hex.EncodeToString(id[:]), "replica": replicas[0].Name, "seq": seq})
	}
	printf(g, "deposited %d bytes into %x at %s as entry %d\n", len(blob), id[:], replicas[0].Name, seq)
	return nil
}

func cmdFetch(g *globals, args []string) error {
	fset := flag.NewFlagSet("fetch", flag.ContinueOnError)
	idHex := fset.String("id", "", "the mailbox id, hex")
	cursor := fset.Uint64("cursor", 1, "the first sequence number wanted")
	if _, err := flags(fset, args); err != nil {
		return err
	}
	raw, err := hex.DecodeString(*idHex)
	if err != nil || len(raw) != mailbox.IDLen {
		return usagef("--id: want 64 hex digits")
	}
	ctx, stop := commandContext()
	defer stop()
	s, err := connect(ctx, g)
	if err != nil {
		return err
	}
	defer s.close()
	id := mailbox.ID(raw)
	replicas, err := s.mb.Replicas(id)
	if err != nil {
		return err
	}
	var out []any
	var errs []error
	for _, r := range replicas {
		rep, err := s.mb.Fetch(ctx, r, id, *cursor, 255)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Name, err))
			continue
		}
		for _, e := range rep.Entries {
			out = append(out, map[string]any{"replica": r.Name, "seq": e.Seq, "size": len(e.Blob), "hex": hex.EncodeToString(e.Blob)})
			if !g.json {
				printf(g, "%s #%d: %d bytes\n", r.Name, e.Seq, len(e.Blob))
			}
		}
		if !g.json {
			printf(g, "%s: next %d, head %d\n", r.Name, rep.Next, rep.Head)
		}
	}
	if g.json {
		if err := printJSON(g, out); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

// traffic reports the packets this session sent, real and cover.
func (s *session) traffic() map[string]uint64 {
	stats, _, ok := s.mc.CoverStatus()
	if !ok {
		return nil
	}
	return map[string]uint64{"real": stats.Real, "drop": stats.Drop + stats.DropStream, "loop": stats.Loop}
}
