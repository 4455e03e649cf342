package mixnet_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"loam/internal/xrand"
	"loam/mixnet/link"
	"loam/onion"
)

// peerEnv makes the test binary the traffic peer of BenchmarkHopLatency:
// the rig's sender and receiver in a process of their own, so that what
// they do is not scheduled among the mix's goroutines and its latency is
// the mix's alone (plus two loopback crossings), as it is for a mix whose
// neighbours are other machines. The variable names the peer's job file.
const peerEnv = "LOAM_MIXNET_TRAFFIC_PEER"

func TestMain(m *testing.M) {
	if job := os.Getenv(peerEnv); job != "" {
		if err := runPeer(job); err != nil {
			fmt.Fprintln(os.Stderr, "traffic peer:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// peerJob is the peer's work: blast Warm packets through the mix, then
// Probe packets to measure its capacity, then send the rest with Poisson
// gaps at half that capacity. The receiver's listener is the peer's file
// descriptor 3.
type peerJob struct {
	MixAddr     string
	MixLink     link.PublicKey
	SendKey     [link.KeyLen]byte
	RecvKey     [link.KeyLen]byte
	FrameLen    int
	Prologue    []byte
	Packets     string // FrameLen-byte packets back to back
	Warm, Probe int
	Result      string
}

// peerResult is what the peer measured, on its own monotonic clock:
// nanoseconds since it began.
type peerResult struct {
	Capacity float64 // packets per second through the mix, blasting
	Rate     float64 // offered in the Poisson phase
	Sent     []int64 // per Poisson packet, when its write began
	Late     []int64 // per Poisson packet, its write's lag behind schedule
	Arrived  []peerArrival
}

type peerArrival struct {
	Alpha [onion.KeyLen]byte
	At    int64
}

func runPeer(jobFile string) error {
	var job peerJob
	raw, err := os.ReadFile(jobFile)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &job); err != nil {
		return err
	}
	blob, err := os.ReadFile(job.Packets)
	if err != nil {
		return err
	}
	if job.FrameLen <= 0 || len(blob)%job.FrameLen != 0 || len(blob)/job.FrameLen <= job.Warm+job.Probe {
		return errors.New("packet file does not fit the job")
	}
	pkts := make([][]byte, 0, len(blob)/job.FrameLen)
	for off := 0; off < len(blob); off += job.FrameLen {
		pkts = append(pkts, blob[off:off+job.FrameLen])
	}
	ln, err := net.FileListener(os.NewFile(3, "receiver"))
	if err != nil {
		return err
	}
	p := &peer{base: time.Now(), got: newArrivalCount()}
	sendLink, err := link.KeyPairFromPrivate(job.SendKey)
	if err != nil {
		return err
	}
	recvLink, err := link.KeyPairFromPrivate(job.RecvKey)
	if err != nil {
		return err
	}
	ends := &rigEnds{ln: ln, mixAddr: job.MixAddr, mixLink: job.MixLink, sendLink: sendLink,
		recvLink: recvLink, frameLen: job.FrameLen, prologue: job.Prologue}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	linked := make(chan error, 1)
	go p.receive(ctx, ends, linked)
	if err := <-linked; err != nil {
		return err
	}
	conn, err := net.Dial("tcp", job.MixAddr)
	if err != nil {
		return err
	}
	p.send, err = link.Client(ctx, conn, ends.sendConfig(), ends.mixLink)
	if err != nil {
		return err
	}
	defer p.send.Close()
	if typ, _, err := p.send.ReadFrame(); err != nil || typ != 0x03 {
		return fmt.Errorf("mix did not accept the sender: %v", err)
	}

	var res peerResult
	if _, err := blast(p.send, p.got, pkts[:job.Warm], 256); err != nil {
		return err
	}
	took, err := blast(p.send, p.got, pkts[job.Warm:job.Warm+job.Probe], 2048)
	if err != nil {
		return err
	}
	res.Capacity = float64(job.Probe) / took.Seconds()
	res.Rate = res.Capacity / 2
	p.mu.Lock()
	p.arrived = nil // only the Poisson phase's arrivals are reported
	p.mu.Unlock()
	res.Sent, res.Late, err = p.poisson(pkts[job.Warm+job.Probe:], res.Rate)
	if err != nil {
		return err
	}
	p.mu.Lock()
	res.Arrived = p.arrived
	p.mu.Unlock()
	out, err := json.Marshal(&res)
	if err != nil {
		return err
	}
	return os.WriteFile(job.Result, out, 0o600)
}

type peer struct {
	base time.Time
	send *link.Conn
	got  *arrivalCount

	mu      sync.Mutex
	arrived []peerArrival
}

// receive accepts the mix's link and records every packet's α and arrival
// time; linked learns when the link is up. A link that fails its handshake
// (the mix gave up on one dialled before this process started, and
// dialled again) is passed over for the next; ctx ending closes ln.
func (p *peer) receive(ctx context.Context, ends *rigEnds, linked chan<- error) {
	stop := context.AfterFunc(ctx, func() { ends.ln.Close() })
	defer stop()
	var conn *link.Conn
	for conn == nil {
		raw, err := ends.ln.Accept()
		if err != nil {
			linked <- err
			return
		}
		if conn, err = link.Server(ctx, raw, ends.recvConfig()); err != nil {
			raw.Close()
		}
	}
	defer conn.Close()
	if err := conn.WriteFrame(0x03, nil); err != nil {
		linked <- err
		return
	}
	if err := conn.Flush(); err != nil {
		linked <- err
		return
	}
	linked <- nil
	for {
		_, body, err := conn.ReadFrame()
		if err != nil {
			return
		}
		a := peerArrival{At: int64(time.Since(p.base))}
		copy(a.Alpha[:], body)
		p.mu.Lock()
		p.arrived = append(p.arrived, a)
		p.mu.Unlock()
		p.got.add()
	}
}

// poisson sends pkts one frame per write, with exponential gaps at rate
// per second, and returns when each write began and how late each was
// against its schedule. It paces on a thread of its own with the kernel's
// high-resolution sleep (pace): Go's timers wake an idle process only to
// the millisecond, and would send bursts. How late the sleeps end is this
// machine's timer wake-up latency under the benchmark's load.
func (p *peer) poisson(pkts [][]byte, rate float64) (sent, late []int64, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	base := p.got.n.Load()
	sent = make([]int64, len(pkts))
	late = make([]int64, len(pkts))
	mean := time.Duration(float64(time.Second) / rate)
	next := time.Now()
	for i, pkt := range pkts {
		next = next.Add(xrand.Exp(mean))
		pace(time.Until(next))
		now := time.Now()
		sent[i], late[i] = int64(now.Sub(p.base)), int64(now.Sub(next))
		if err := p.send.WriteFrame(0x01, pkt); err != nil {
			return nil, nil, err
		}
		if err := p.send.Flush(); err != nil {
			return nil, nil, err
		}
	}
	return sent, late, p.got.waitFor(base + int64(len(pkts)))
}
