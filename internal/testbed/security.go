//go:build linux

package testbed

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"loam/cmd/loam-node/nodeconfig"
	"loam/mailbox"
	"loam/mixnet"
	"loam/mixnet/directory"
	"loam/mixnet/link"
)

// Link frame types (SPEC.md §5.2).
const (
	framePacket byte = 0x01
	frameReady  byte = 0x03
)

// check is a security check that needs no traffic of its own.
type check struct {
	id  string
	run func(ctx context.Context, r *runner) (SecRow, error)
}

func (r *runner) checks() []check {
	return []check{
		{"unlisted", checkUnlisted},
		{"capability", checkCapability},
		{"replay-gateway", checkReplayAtGateway},
		{"replay-mix", checkReplayAtMix},
		{"replay-link", checkReplayLink},
	}
}

// network is what a link handshake must agree on.
func (b *Bed) network() mixnet.Network {
	return mixnet.Network{Geometry: b.Spec.Params.Geometry(), EpochPeriod: b.Spec.Params.EpochPeriod}
}

// dialLink opens a link from the ctl host to node n with static key kp and
// waits for the responder's verdict: nil once it sends ready; an error
// when it refuses (closes the link).
func (r *runner) dialLink(ctx context.Context, n *Node, kp link.KeyPair) (*link.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	raw, err := r.b.Ctl.DialContext(ctx, "tcp", n.Listen)
	if err != nil {
		return nil, err
	}
	nw := r.b.network()
	cfg := &link.Config{FrameLen: nw.Geometry.PacketLen(), Static: kp, Prologue: nw.Prologue(), HandshakeTimeout: 10 * time.Second}
	conn, err := link.Client(ctx, raw, cfg, link.PublicKey(n.LinkKey))
	if err != nil {
		raw.Close()
		return nil, err
	}
	raw.SetReadDeadline(time.Now().Add(10 * time.Second))
	typ, _, err := conn.ReadFrame()
	raw.SetReadDeadline(time.Time{})
	if err != nil {
		conn.Close()
		return nil, err
	}
	if typ != frameReady {
		conn.Close()
		return nil, fmt.Errorf("first frame of type %#x, not ready", typ)
	}
	return conn, nil
}

// checkUnlisted: a key in no document cannot open a link to a mix or a
// replica, and a gateway takes it only as a client; nor can a node's own
// key open a link where the topology does not allow it.
func checkUnlisted(ctx context.Context, r *runner) (SecRow, error) {
	b := r.b
	row := SecRow{Check: "node not in the directory, or out of place, opens a link"}
	stranger, err := link.GenerateKeyPair()
	if err != nil {
		return row, err
	}
	var notes []string
	refusedBefore, _ := r.sum(ctx, b.MixNodes(), "loam_drops_total", "reason", "unknown_peer")
	for _, n := range b.MixNodes() {
		row.Tries++
		if n.Role == nodeconfig.RoleGateway {
			ok, err := r.onlyAsClient(ctx, n, stranger)
			if err != nil {
				return row, err
			}
			if ok {
				row.Refused++
			} else {
				notes = append(notes, n.Name+" took a stranger as a node")
			}
			continue
		}
		if conn, err := r.dialLink(ctx, n, stranger); err == nil {
			conn.Close()
			notes = append(notes, n.Name+" accepted a stranger")
			continue
		}
		row.Refused++
	}
	// Real nodes' keys where the topology allows no link.
	for _, pair := range [][2]string{{"gateway-0", "mix-2a"}, {"gateway-0", "mix-3a"}, {"mix-3a", "mix-1a"}, {"replica-0", "mix-2b"}, {"mix-1a", "replica-0"}} {
		from, to := b.Node(pair[0]), b.Node(pair[1])
		kp, err := nodeconfig.ReadLink(filepath.Join(from.Dir, nodeconfig.LinkFile))
		if err != nil {
			return row, err
		}
		row.Tries++
		if conn, err := r.dialLink(ctx, to, kp); err == nil {
			conn.Close()
			notes = append(notes, fmt.Sprintf("%s accepted %s's key", to.Name, from.Name))
			continue
		}
		row.Refused++
	}
	refusedAfter, _ := r.sum(ctx, b.MixNodes(), "loam_drops_total", "reason", "unknown_peer")
	row.Note = fmt.Sprintf("a stranger's key at every mix and replica, node keys out of place at 5; gateways took the stranger only as a client; nodes counted %.0f refusals", refusedAfter-refusedBefore)
	if len(notes) > 0 {
		row.Err = strings.Join(notes, "; ")
	}
	return row, nil
}

// onlyAsClient opens a link to a gateway with a stranger's key and
// reports whether the gateway counts it as a client link, not a node's.
func (r *runner) onlyAsClient(ctx context.Context, gw *Node, kp link.KeyPair) (bool, error) {
	before, err := r.b.Scrape(ctx, gw.Name)
	if err != nil {
		return false, err
	}
	conn, err := r.dialLink(ctx, gw, kp)
	if err != nil {
		return false, fmt.Errorf("testbed: %s refused a client: %w", gw.Name, err)
	}
	defer conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		after, err := r.b.Scrape(ctx, gw.Name)
		if err != nil {
			return false, err
		}
		clients := after.Sum("loam_links_open", "direction", "in", "kind", "client") - before.Sum("loam_links_open", "direction", "in", "kind", "client")
		nodes := after.Sum("loam_links_open", "direction", "in", "kind", "node") - before.Sum("loam_links_open", "direction", "in", "kind", "node")
		if nodes > 0 {
			return false, nil
		}
		if clients >= 1 {
			return true, nil
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return false, err
		}
	}
	return false, nil
}

// checkCapability: a person of each client host has a replica store an
// entry, then tries a deposit and a delete signed with another
// capability; both must be refused and the entry stay as it was.
func checkCapability(ctx context.Context, r *runner) (SecRow, error) {
	row := SecRow{Check: "write or delete in a mailbox without its capability"}
	var replicas, errs []string
	for _, c := range r.b.Clients {
		p := Person{c, 0}
		cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		chk, err := p.CapCheck(cctx)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", p.Name(), err))
			continue
		}
		replicas = append(replicas, chk.Replica)
		row.Tries += 2
		for _, answer := range []string{chk.Deposit, chk.Delete} {
			if answer == mailbox.StatusUnauthorized.String() {
				row.Refused++
			} else {
				errs = append(errs, fmt.Sprintf("%s answered %q", chk.Replica, answer))
			}
		}
		if !chk.Intact {
			errs = append(errs, chk.Replica+": the owner's entry changed")
		}
	}
	row.Note = "forged deposit and delete at " + strings.Join(replicas, ", ") + "; each answered \"not authorized\" and the owner's entry stayed"
	row.Err = strings.Join(errs, "; ")
	return row, nil
}

// probeClient is a client of the bed run by the harness itself, from the
// ctl host, sending raw packets through gateway.
func (r *runner) probeClient(ctx context.Context, gateway string) (*mixnet.Client, error) {
	kp, err := link.GenerateKeyPair()
	if err != nil {
		return nil, err
	}
	f := &directory.Fetcher{Authorities: r.b.Peers, Threshold: r.b.Spec.Threshold, Client: r.b.Ctl.HTTPClient(5 * time.Second)}
	c, err := mixnet.NewClient(mixnet.ClientConfig{Link: kp, Network: r.b.network(), Gateway: gateway, Directory: f,
		Transport: r.b.Ctl.Transport(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if connected, _, _ := c.Status(); connected {
			return c, nil
		}
		if time.Now().After(deadline) {
			c.Close()
			return nil, errors.New("testbed: the probe client found no gateway link in 30s")
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			c.Close()
			return nil, err
		}
	}
}

// replayCopies is how many replayed and how many tampered copies each
// replay check sends.
const replayCopies = 20

// tamper returns a copy of pkt with one bit flipped in its header, where
// the hop's MAC covers it.
func tamper(pkt []byte, i int) []byte {
	t := bytes.Clone(pkt)
	t[64+i%256] ^= 1
	return t
}

// awaitDrops waits until node's drop counters have grown by want for
// reason, and returns by how much they did.
func (r *runner) awaitDrops(ctx context.Context, n *Node, before map[string]float64, want map[string]float64) (map[string]float64, error) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		m, err := r.b.Scrape(ctx, n.Name)
		if err != nil {
			return nil, err
		}
		got := map[string]float64{}
		done := true
		for reason, w := range want {
			got[reason] = m.Sum("loam_drops_total", "reason", reason) - before[reason]
			if got[reason] < w {
				done = false
			}
		}
		if done || time.Now().After(deadline) {
			return got, nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

func (r *runner) drops(ctx context.Context, n *Node, reasons ...string) (map[string]float64, error) {
	m, err := r.b.Scrape(ctx, n.Name)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, reason := range reasons {
		out[reason] = m.Sum("loam_drops_total", "reason", reason)
	}
	return out, nil
}

// checkReplayAtGateway: a client sends a packet, then copies of it and
// tampered copies on its link: the gateway drops each copy as a replay
// and each tampered one as failing its MAC.
func checkReplayAtGateway(ctx context.Context, r *runner) (SecRow, error) {
	row := SecRow{Check: "packets replayed or tampered on a client's link, at the gateway"}
	gw := r.b.Node("gateway-0")
	c, err := r.probeClient(ctx, gw.Name)
	if err != nil {
		return row, err
	}
	defer c.Close()
	dest, err := c.Services(mailbox.ServiceName)
	if err != nil {
		return row, err
	}
	pkt, _, err := c.NewRequest(dest[0], "drop", []byte("replay me"))
	if err != nil {
		return row, err
	}
	before, err := r.drops(ctx, gw, "replay", "mac")
	if err != nil {
		return row, err
	}
	if err := c.Send(pkt); err != nil {
		return row, err
	}
	if err := sleep(ctx, 200*time.Millisecond); err != nil {
		return row, err
	}
	for i := range replayCopies {
		for _, p := range [][]byte{bytes.Clone(pkt), tamper(pkt, i)} {
			for c.Send(p) != nil {
				if err := sleep(ctx, 10*time.Millisecond); err != nil {
					return row, err
				}
			}
		}
	}
	got, err := r.awaitDrops(ctx, gw, before, map[string]float64{"replay": replayCopies, "mac": replayCopies})
	if err != nil {
		return row, err
	}
	return replayRow(row, gw.Name, got), nil
}

func replayRow(row SecRow, node string, got map[string]float64) SecRow {
	row.Tries = 2 * replayCopies
	row.Refused = min(int(got["replay"]), replayCopies) + min(int(got["mac"]), replayCopies)
	row.Note = fmt.Sprintf("%s counted %.0f replay and %.0f MAC drops for %d copies and %d tampered copies", node, got["replay"], got["mac"], replayCopies, replayCopies)
	if got["replay"] > replayCopies || got["mac"] > replayCopies {
		row.Err = "more drops than copies sent: other traffic is being dropped too"
	}
	return row
}

// checkReplayAtMix: the harness, holding gateway-0's link key, opens a
// link to a layer-1 mix as gateway-0 would and sends a packet, copies of
// it and tampered copies: the mix's own replay filter and MAC drop them.
func checkReplayAtMix(ctx context.Context, r *runner) (SecRow, error) {
	row := SecRow{Check: "packets replayed or tampered on a gateway's link, at a mix"}
	gw := r.b.Node("gateway-0")
	c, err := r.probeClient(ctx, gw.Name)
	if err != nil {
		return row, err
	}
	defer c.Close()
	dests, err := c.Services(mailbox.ServiceName)
	if err != nil {
		return row, err
	}
	path, err := c.ForwardPath(dests[0])
	if err != nil {
		return row, err
	}
	geo := r.b.Spec.Params.Geometry()
	payload, err := mixnet.NewRequestPayload(geo, nil, []byte("replay me at a mix"))
	if err != nil {
		return row, err
	}
	drop, err := mixnet.RecipientName("drop")
	if err != nil {
		return row, err
	}
	pkt, err := geo.NewPacket(path[1:], drop, payload) // from layer 1 on, as the gateway sends it
	if err != nil {
		return row, err
	}
	var mix *Node
	for _, n := range r.b.MixNodes() {
		if n.ID == path[1].Node {
			mix = n
		}
	}
	if mix == nil {
		return row, fmt.Errorf("testbed: no node with id %v", path[1].Node)
	}
	kp, err := nodeconfig.ReadLink(filepath.Join(gw.Dir, nodeconfig.LinkFile))
	if err != nil {
		return row, err
	}
	conn, err := r.dialLink(ctx, mix, kp)
	if err != nil {
		return row, fmt.Errorf("testbed: %s refused gateway-0's key: %w", mix.Name, err)
	}
	defer conn.Close()
	before, err := r.drops(ctx, mix, "replay", "mac")
	if err != nil {
		return row, err
	}
	if err := conn.WriteFrame(framePacket, pkt); err != nil {
		return row, err
	}
	for i := range replayCopies {
		if err := conn.WriteFrame(framePacket, pkt); err != nil {
			return row, err
		}
		if err := conn.WriteFrame(framePacket, tamper(pkt, i)); err != nil {
			return row, err
		}
	}
	if err := conn.Flush(); err != nil {
		return row, err
	}
	got, err := r.awaitDrops(ctx, mix, before, map[string]float64{"replay": replayCopies, "mac": replayCopies})
	if err != nil {
		return row, err
	}
	return replayRow(row, mix.Name, got), nil
}

// checkReplayLink: the tap recorded what a person's client sent on its
// link to a gateway — the Noise handshake and the frames after it. Those
// bytes sent again in new connections, as recorded and with a bit
// flipped, must never make a link: the gateway answers the replayed
// first message with a fresh ephemeral key, which the recorded third one
// does not match, and closes.
func checkReplayLink(ctx context.Context, r *runner) (SecRow, error) {
	row := SecRow{Check: "a client's link bytes captured and replayed to its gateway"}
	rec := r.b.tap.Recorded()
	w := r.b.network().Geometry.PacketLen() + link.FrameOverhead
	if len(rec) < 4*w {
		return row, fmt.Errorf("testbed: the tap recorded %d bytes of a client's link; want at least 4 frames", len(rec))
	}
	rec = rec[:min(len(rec), 16*w)]
	gws := r.b.ByRole(nodeconfig.RoleGateway)
	before, err := r.sum(ctx, gws, "loam_drops_total", "reason", "bad_frame")
	if err != nil {
		return row, err
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []error
	for i := range 2 * replayCopies {
		wg.Go(func() {
			data := rec
			if i%2 == 1 {
				data = bytes.Clone(rec)
				data[(i*997)%len(data)] ^= 0x40
			}
			linked, err := r.replayStream(ctx, gws, data, w)
			mu.Lock()
			defer mu.Unlock()
			row.Tries++
			switch {
			case err != nil:
				errs = append(errs, err)
			case !linked:
				row.Refused++
			}
		})
	}
	wg.Wait()
	after, err := r.sum(ctx, gws, "loam_drops_total", "reason", "bad_frame")
	if err != nil {
		return row, err
	}
	row.Note = fmt.Sprintf("%d recorded streams of %d bytes, half with a bit flipped; no link made; gateways counted %.0f failed handshakes", row.Tries, len(rec), after-before)
	if len(errs) > 0 {
		row.Err = errors.Join(errs...).Error()
	}
	return row, nil
}

// replayStream sends data to every gateway in turn until one accepts the
// connection, and reports whether a link came of it: the responder sent
// more than its handshake message.
func (r *runner) replayStream(ctx context.Context, gws []*Node, data []byte, w int) (bool, error) {
	for _, gw := range gws {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		conn, err := r.b.Ctl.DialContext(cctx, "tcp", gw.Listen)
		cancel()
		if err != nil {
			continue
		}
		conn.SetDeadline(time.Now().Add(15 * time.Second))
		go func() {
			conn.Write(data)
		}()
		n, _ := io.Copy(io.Discard, conn)
		conn.Close()
		return n > int64(w), nil
	}
	return false, errors.New("testbed: no gateway took a connection")
}

// garbage sends junk to every port of every node from the ctl host: bytes
// of many lengths, an HTTP-looking request line, and a connection opened
// and left silent. It returns the connections made, by node.
func (r *runner) garbage(ctx context.Context) (map[string]int, error) {
	w := r.b.network().Geometry.PacketLen() + link.FrameOverhead
	sizes := []int{1, 7, 100, w - 1, w, w + 1, 3 * w, 1 << 20}
	var mu sync.Mutex
	made := map[string]int{}
	var wg sync.WaitGroup
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for _, n := range r.b.Nodes {
		ports := []string{n.Listen, n.Metrics}
		for _, addr := range ports {
			for _, size := range sizes {
				wg.Go(func() {
					junk := make([]byte, size)
					rand.Read(junk)
					if r.sendJunk(ctx, addr, junk) {
						mu.Lock()
						made[n.Name]++
						mu.Unlock()
					}
				})
			}
			wg.Go(func() {
				if r.sendJunk(ctx, addr, []byte("GET /\x00\xff HTTP/9.9\r\nHost: "+strings.Repeat("A", 70000)+"\r\n\r\n")) {
					mu.Lock()
					made[n.Name]++
					mu.Unlock()
				}
			})
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			c, err := r.b.Ctl.DialContext(cctx, "tcp", addr)
			cancel()
			if err == nil {
				idle = append(idle, c)
				mu.Lock()
				made[n.Name]++
				mu.Unlock()
			}
		}
	}
	wg.Wait()
	// The silent ones stay open a while, then go.
	return made, sleep(ctx, 2*time.Second)
}

// sendJunk connects to addr, writes junk and reads until the peer closes
// or a few seconds pass; it reports whether the connection was made.
func (r *runner) sendJunk(ctx context.Context, addr string, junk []byte) bool {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := r.b.Ctl.DialContext(cctx, "tcp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	go c.Write(junk)
	io.Copy(io.Discard, c)
	return true
}
