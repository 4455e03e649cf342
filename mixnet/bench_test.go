package mixnet_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"loam/internal/benchfloor"
	"loam/mixnet"
	"loam/mixnet/directory"
	"loam/mixnet/link"
	"loam/onion"
)

// mixRig is one real mix node (layer 2) between a sender standing in for a
// layer-1 mix and a receiver standing in for a layer-3 mix, all joined by
// Noise links over loopback TCP. The benchmark's own goroutines do no
// onion work while they measure: packets are made beforehand.
type mixRig struct {
	geo     onion.Geometry
	mix     *mixnet.Node
	mixKey  *onion.PrivateKey
	path    []onion.Hop
	send    *link.Conn
	got     *arrivalCount
	stalled atomic.Bool // the receiver stops reading while set
	expect  sync.Map    // next hop's α → packet index
	cfg     mixnet.Config
	doc     *directory.Document
	ends    *rigEnds // set when the sender and receiver are in this process
}

// rigEnds is what the rig's sender and receiver need to play their parts,
// in this process or in the traffic peer's (peer_test.go).
type rigEnds struct {
	ln                 net.Listener // the receiver's; the mix dials it
	mixAddr            string
	mixLink            link.PublicKey
	sendLink, recvLink link.KeyPair
	frameLen           int
	prologue           []byte
}

func (e *rigEnds) sendConfig() *link.Config {
	return &link.Config{FrameLen: e.frameLen, Static: e.sendLink, Prologue: e.prologue}
}

func (e *rigEnds) recvConfig() *link.Config {
	return &link.Config{FrameLen: e.frameLen, Static: e.recvLink, Prologue: e.prologue,
		Authorize: func(link.PublicKey) error { return nil }}
}

// newMixRig starts the mix with its sender and receiver in this process.
func newMixRig(tb testing.TB) *mixRig {
	tb.Helper()
	r, ends := newMix(tb)
	go r.receive(ends.ln, ends.recvConfig())
	r.send = ends.dialMix(tb, ends.mixAddr)
	r.ends = ends
	r.waitLinked(tb)
	return r
}

// dialMix links the sender to the mix at addr.
func (e *rigEnds) dialMix(tb testing.TB, addr string) *link.Conn {
	tb.Helper()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	conn, err := link.Client(ctx, raw, e.sendConfig(), e.mixLink)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	if typ, _, err := conn.ReadFrame(); err != nil || typ != 0x03 {
		tb.Fatalf("mix did not accept the sender: %v", err)
	}
	return conn
}

// newMix starts the mix node alone, with a directory document that names
// the two stand-ins, and returns what their ends need.
func newMix(tb testing.TB) (*mixRig, *rigEnds) {
	tb.Helper()
	geo := onion.DefaultGeometry
	params := directory.DefaultParameters()
	network := mixnet.Network{Geometry: geo, EpochPeriod: params.EpochPeriod}
	epoch := directory.Schedule{Period: params.EpochPeriod}.Epoch(time.Now())
	r := &mixRig{geo: geo, got: newArrivalCount()}

	_, mixID, _ := ed25519.GenerateKey(rand.Reader)
	mixLink, _ := link.GenerateKeyPair()
	dir := tb.TempDir()
	r.cfg = mixnet.Config{
		Name: "mix-2", Role: directory.RoleMix, Layer: 2, Identity: mixID, Link: mixLink,
		Listen: "127.0.0.1:0", Network: network, DataDir: dir, ReplayCapacity: 1 << 21,
		Logger: slog.New(slog.DiscardHandler), QueueLen: 1 << 14,
	}
	mix := r.startMix(tb)
	// The node stores its onion keys on disk; the rig reads this epoch's
	// back so that it can predict what the mix will send on.
	seed, err := os.ReadFile(filepath.Join(dir, "onion", "onion-"+itoa(epoch)+".key"))
	if err != nil {
		tb.Fatal(err)
	}
	r.mixKey, _ = onion.NewPrivateKey([32]byte(seed))

	// The receiver is a layer-3 stand-in that only counts and timestamps;
	// the sender a layer-1 stand-in.
	ends := &rigEnds{mixAddr: mix.Addr().String(), mixLink: mixLink.Public, frameLen: geo.PacketLen(),
		prologue: network.Prologue()}
	ends.recvLink, _ = link.GenerateKeyPair()
	ends.sendLink, _ = link.GenerateKeyPair()
	ends.ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ends.ln.Close() })

	descs := []*directory.Descriptor{}
	mixDesc, err := mix.Descriptor(epoch, epoch+1, epoch+2)
	if err != nil {
		tb.Fatal(err)
	}
	for _, raw := range [][]byte{mixDesc, standIn(tb, "mix-1", 1, "127.0.0.1:1", ends.sendLink.Public, epoch),
		standIn(tb, "mix-3", 3, ends.ln.Addr().String(), ends.recvLink.Public, epoch)} {
		d, err := directory.ParseDescriptor(raw)
		if err != nil {
			tb.Fatal(err)
		}
		descs = append(descs, d)
	}
	sort.Slice(descs, func(i, j int) bool {
		a, b := descs[i].ID(), descs[j].ID()
		return bytes.Compare(a[:], b[:]) < 0
	})
	r.doc = &directory.Document{Epoch: epoch, Params: params, Nodes: descs}
	if err := mix.AddDocument(r.doc); err != nil {
		tb.Fatal(err)
	}
	for _, d := range descs {
		k, _ := d.OnionKey(epoch)
		if d.Layer == 2 || d.Layer == 3 {
			r.path = append(r.path, onion.Hop{Node: d.ID(), Key: k, Phase: uint8(epoch & 1)})
		}
	}
	if r.path[0].Node != mix.ID() {
		r.path[0], r.path[1] = r.path[1], r.path[0]
	}
	return r, ends
}

// startMix starts a mix node with the rig's configuration; it is closed
// when the test ends.
func (r *mixRig) startMix(tb testing.TB) *mixnet.Node {
	tb.Helper()
	mix, err := mixnet.NewNode(r.cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(func() { cancel(); mix.Close() })
	if err := mix.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	r.mix = mix
	return mix
}

// waitLinked waits for the mix's link to the receiver.
func (r *mixRig) waitLinked(tb testing.TB) {
	deadline := time.Now().Add(10 * time.Second)
	for !r.mix.Ready() {
		if time.Now().After(deadline) {
			tb.Fatal("mix never linked to the receiver")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func itoa(v uint64) string { return string(appendUint(nil, v)) }

func appendUint(b []byte, v uint64) []byte {
	if v >= 10 {
		b = appendUint(b, v/10)
	}
	return append(b, byte('0'+v%10))
}

// standIn signs a descriptor for a node the rig plays itself.
func standIn(tb testing.TB, name string, layer uint8, addr string, lk link.PublicKey, epoch uint64) []byte {
	_, id, _ := ed25519.GenerateKey(rand.Reader)
	ok, _ := onion.GenerateKey()
	d := &directory.Descriptor{IdentityKey: id.Public().(ed25519.PublicKey), Name: name, Role: directory.RoleMix,
		Layer: layer, Address: addr, LinkKey: lk, Published: time.Now().Truncate(time.Second),
		OnionKeys: []directory.EpochKey{{Epoch: epoch, Key: ok.Public()}}}
	raw, err := directory.SignDescriptor(d, id)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// receive serves every link the mix opens to the receiver (a restarted mix
// opens a new one).
func (r *mixRig) receive(ln net.Listener, cfg *link.Config) {
	for {
		raw, err := ln.Accept()
		if err != nil {
			return
		}
		go r.serveReceiver(raw, cfg)
	}
}

func (r *mixRig) serveReceiver(raw net.Conn, cfg *link.Config) {
	conn, err := link.Server(context.Background(), raw, cfg)
	if err != nil {
		return
	}
	defer conn.Close()
	conn.WriteFrame(0x03, nil) // ready
	conn.Flush()
	for {
		for r.stalled.Load() {
			time.Sleep(time.Millisecond) // a next hop that stopped reading
		}
		if _, _, err := conn.ReadFrame(); err != nil {
			return
		}
		r.got.add()
	}
}

// packets makes n packets for the path mix → receiver with zero delay,
// on every core, and records the α each will carry after the mix.
func (r *mixRig) packets(tb testing.TB, n int) [][]byte {
	out := make([][]byte, n)
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				p, err := r.geo.NewPacket(r.path, mixnet.RecipientDrop, nil)
				if err != nil {
					panic(err)
				}
				next, err := r.geo.Unwrap(r.mixKey, bytes.Clone(p))
				if err != nil {
					panic(err)
				}
				r.expect.Store([onion.KeyLen]byte(next.Packet[:onion.KeyLen]), i)
				out[i] = p
			}
		}()
	}
	wg.Wait()
	return out
}

func (r *mixRig) blast(tb testing.TB, pkts [][]byte, window int64) time.Duration {
	took, err := blast(r.send, r.got, pkts, window)
	if err != nil {
		tb.Fatal(err)
	}
	return took
}

func (r *mixRig) waitFor(tb testing.TB, n int64) {
	if err := r.got.waitFor(n); err != nil {
		tb.Fatal(err)
	}
}

// arrivalCount counts the packets a receiver took off its link; senders
// wait on it.
type arrivalCount struct {
	n        atomic.Int64
	progress chan struct{} // poked on every arrival
}

func newArrivalCount() *arrivalCount { return &arrivalCount{progress: make(chan struct{}, 1)} }

func (c *arrivalCount) add() {
	c.n.Add(1)
	select {
	case c.progress <- struct{}{}:
	default:
	}
}

// waitFor returns once n packets have arrived in all, or fails after a
// minute without one.
func (c *arrivalCount) waitFor(n int64) error {
	if c.n.Load() >= n {
		return nil
	}
	quiet := time.NewTimer(time.Minute)
	defer quiet.Stop()
	for c.n.Load() < n {
		select {
		case <-c.progress:
			quiet.Reset(time.Minute)
		case <-quiet.C:
			return fmt.Errorf("only %d of %d packets came through", c.n.Load(), n)
		}
	}
	return nil
}

// blast sends pkts on send as fast as the mix takes them, keeping at most
// window packets in the mix at once so none is dropped, and returns when
// all are through.
func blast(send *link.Conn, got *arrivalCount, pkts [][]byte, window int64) (time.Duration, error) {
	start := time.Now()
	base := got.n.Load()
	for i, p := range pkts {
		if err := got.waitFor(base + int64(i) - window + 1); err != nil {
			return 0, err
		}
		if err := send.WriteFrame(0x01, p); err != nil {
			return 0, err
		}
		if i%16 == 15 || i == len(pkts)-1 {
			if err := send.Flush(); err != nil {
				return 0, err
			}
		}
	}
	err := got.waitFor(base + int64(len(pkts)))
	return time.Since(start), err
}

// BenchmarkMixForward measures packets per second through one mix node over
// real loopback Noise links at zero delay. ceiling-ratio compares it with
// the most a node could do if each packet cost exactly one X25519
// multiplication on every core: GOMAXPROCS ÷ (seconds per ECDH measured in
// this process on every core at once). Goal: at least 0.7. The packets go
// through in rounds; the floor is measured between rounds while the mix is
// idle, so a machine whose speed drifts during the run (these are shared
// VMs) moves both sides of the ratio alike.
func BenchmarkMixForward(b *testing.B) {
	r := newMixRig(b)
	warm := r.packets(b, 256)
	r.blast(b, warm, 256)
	pkts := r.packets(b, b.N)
	floor := benchfloor.NewSampler()
	const round = 16384
	var took time.Duration
	b.ResetTimer()
	for i := 0; i < len(pkts); i += round {
		b.StopTimer()
		floor.Sample(10 * time.Millisecond)
		b.StartTimer()
		took += r.blast(b, pkts[i:min(i+round, len(pkts))], 2048)
	}
	b.StopTimer()
	floor.Sample(10 * time.Millisecond)
	pps := float64(b.N) / took.Seconds()
	ceiling := float64(runtime.GOMAXPROCS(0)) / floor.Mean().Seconds()
	b.ReportMetric(pps, "pkts/s")
	b.ReportMetric(pps/ceiling, "ceiling-ratio")
	b.ReportMetric(float64(floor.Mean().Nanoseconds()), "x25519-ns")
}

// BenchmarkHopLatency measures the time a packet spends in a mix beyond its
// scheduled delay (zero here) while the mix runs at half the capacity
// measured just before, with Poisson arrivals: from the sender's write to
// the receiver's read, so two loopback link crossings are included. The
// sender and receiver run in a process of their own (peer_test.go), as a
// mix's neighbours do. Reports the 99th percentile in microseconds; goal:
// under 1000.
func BenchmarkHopLatency(b *testing.B) {
	r, ends := newMix(b)
	const warm, probe = 500, 2500
	n := max(b.N, 2000)
	pkts := r.packets(b, warm+probe+n)
	dir := b.TempDir()
	job := peerJob{MixAddr: ends.mixAddr, MixLink: ends.mixLink, SendKey: ends.sendLink.Private,
		RecvKey: ends.recvLink.Private, FrameLen: ends.frameLen, Prologue: ends.prologue,
		Packets: filepath.Join(dir, "packets"), Warm: warm, Probe: probe, Result: filepath.Join(dir, "result")}
	if err := os.WriteFile(job.Packets, slices.Concat(pkts...), 0o600); err != nil {
		b.Fatal(err)
	}
	res := runPeerProcess(b, ends, &job)
	if len(res.Sent) != n {
		b.Fatalf("the peer sent %d packets, want %d", len(res.Sent), n)
	}
	lat := make([]time.Duration, 0, n)
	for _, a := range res.Arrived {
		i, ok := r.expect.Load(a.Alpha)
		if !ok || i.(int) < warm+probe {
			b.Fatalf("the peer received a packet it did not send in its Poisson phase")
		}
		lat = append(lat, time.Duration(a.At-res.Sent[i.(int)-warm-probe]))
	}
	if len(lat) != n {
		b.Fatalf("%d of %d packets arrived", len(lat), n)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-us")
	b.ReportMetric(res.Rate, "offered-pkts/s")
	slices.Sort(res.Late)
	b.ReportMetric(float64(time.Duration(res.Late[len(res.Late)*99/100]).Microseconds()), "pace-late-p99-us")
}

// runPeerProcess runs the traffic peer: this test binary again, with the
// receiver's listener as its file descriptor 3, and returns its result.
func runPeerProcess(b *testing.B, ends *rigEnds, job *peerJob) *peerResult {
	jobFile := filepath.Join(filepath.Dir(job.Result), "job.json")
	raw, err := json.Marshal(job)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(jobFile, raw, 0o600); err != nil {
		b.Fatal(err)
	}
	lnFile, err := ends.ln.(*net.TCPListener).File()
	if err != nil {
		b.Fatal(err)
	}
	defer lnFile.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), peerEnv+"="+jobFile)
	cmd.ExtraFiles = []*os.File{lnFile}
	cmd.SysProcAttr = peerProcAttr()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	b.ResetTimer()
	err = cmd.Run()
	b.StopTimer()
	if err != nil {
		b.Fatalf("traffic peer: %v\n%s", err, out.Bytes())
	}
	var res peerResult
	raw, err = os.ReadFile(job.Result)
	if err != nil {
		b.Fatal(err)
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		b.Fatal(err)
	}
	return &res
}
