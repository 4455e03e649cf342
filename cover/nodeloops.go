package cover

import (
	"log/slog"
	"sync/atomic"

	"loam/internal/clock"
)

// NodeLoops sends a mix's or gateway's own loops at rate λM: packets that
// leave the node, cross every layer and come back to it. Their loss, judged
// by a LoopTracker, is how a node notices that its packets are being held
// or dropped around it (an n−1 attack on its traffic).
type NodeLoops struct {
	stream *Stream
	maker  Maker
	send   func([]byte) error
	loops  *LoopTracker
	log    *slog.Logger

	nSent, nSendErr, nMakeErr atomic.Uint64
}

// NodeLoopStats are a NodeLoops' counters since it was made.
type NodeLoopStats struct {
	Sent       uint64 // loops handed to send
	SendErrors uint64
	MakeErrors uint64
}

// NewNodeLoops returns stopped node loops at rate (per second) built by m
// and handed to send; t, if not nil, tracks their returns. A nil m or send
// makes every slot count an error.
func NewNodeLoops(c clock.Clock, rate float64, m Maker, send func([]byte) error, t *LoopTracker) *NodeLoops {
	if m == nil {
		m = failingMaker{}
	}
	if send == nil {
		send = func([]byte) error { return errNoSend }
	}
	n := &NodeLoops{maker: m, send: send, loops: t, log: slog.Default()}
	n.stream = NewStream(c, rate, n.slot)
	return n
}

// Start starts sending loops.
func (n *NodeLoops) Start() { n.stream.Start() }

// Stop stops sending loops; the tracker keeps judging those sent.
func (n *NodeLoops) Stop() { n.stream.Stop() }

// SetRate sets λM, as a new epoch's directory gives it (Stream.SetRate).
func (n *NodeLoops) SetRate(rate float64) { n.stream.SetRate(rate) }

// Stats returns the counters.
func (n *NodeLoops) Stats() NodeLoopStats {
	return NodeLoopStats{Sent: n.nSent.Load(), SendErrors: n.nSendErr.Load(), MakeErrors: n.nMakeErr.Load()}
}

func (n *NodeLoops) slot() {
	if sendLoop(n.maker, n.send, n.loops, &n.nSendErr, &n.nMakeErr, n.log) {
		n.nSent.Add(1)
	}
}
