package mixnet_test

import (
	"sync/atomic"
	"testing"
	"time"

	"loam/cover"
	"loam/internal/testnet"
	"loam/mixnet"
	"loam/onion"
)

func loopConfig() cover.LoopTrackerConfig {
	// A loop takes tens of milliseconds here, but on a loaded CI machine
	// under the race detector some take seconds or fall at an epoch
	// boundary: the 3-s timeout and an expected loss of 10 % keep the
	// target's client calm there (it saw 13 % once with 2 %), while the
	// attack, which drops about half the victim's loops, stays far beyond.
	return cover.LoopTrackerConfig{Window: 8 * time.Second, Timeout: 3 * time.Second,
		MinSamples: 30, CheckEvery: 250 * time.Millisecond, ExpectedLoss: 0.1, Alpha: 1e-3}
}

// TestNMinusOneAttackRaisesAlarm: an adversary lets mix-1a receive only the
// packets that come through the target's gateway, dropping everything from
// the other gateway, as an n-1 attack on the target would. The loops of the
// other gateway and of its client vanish whenever they pick mix-1a, and
// both raise the alarm; the target's own loops are untouched and its client
// stays calm.
func TestNMinusOneAttackRaisesAlarm(t *testing.T) {
	p := testnet.TestParameters()
	p.LambdaP, p.LambdaL, p.LambdaD, p.LambdaM = 2, 20, 1, 20
	p.EpochPeriod, p.Grace = 15*time.Second, 5*time.Second // fewer rollovers in the judged windows
	var attacked atomic.Pointer[onion.NodeID]
	network := testnet.Start(t, testnet.Options{
		Gateways: 2, Params: p,
		Node: func(cfg *mixnet.Config) {
			cfg.Loops = loopConfig()
			if cfg.Name == "gateway-1" {
				cfg.DropOutgoing = func(next onion.NodeID) bool {
					m := attacked.Load()
					return m != nil && next == *m
				}
			}
		},
	})
	withCover := func(gw string) func(*mixnet.ClientConfig) {
		return func(cfg *mixnet.ClientConfig) {
			cfg.Gateway, cfg.Cover, cfg.Loops = gw, true, loopConfig()
		}
	}
	target := network.NewClientWith(t, withCover("gateway-0"))
	victim := network.NewClientWith(t, withCover("gateway-1"))
	network.WaitReady(t, target)
	network.WaitReady(t, victim)

	// Before the attack nothing is amiss.
	time.Sleep(4 * time.Second)
	if _, r, _ := victim.CoverStatus(); r.Alarm {
		t.Fatalf("alarm before any attack: %+v", r)
	}
	doc, _ := victim.Document()
	var mix onion.NodeID
	for _, d := range doc.Layer(1) {
		if d.Name == "mix-1a" {
			mix = d.ID()
		}
	}
	attacked.Store(&mix)

	var gw1 *mixnet.Node
	for _, n := range network.Nodes {
		if doc.Node(n.ID()) != nil && doc.Node(n.ID()).Name == "gateway-1" {
			gw1 = n
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, vr, _ := victim.CoverStatus()
		if vr.Alarm && gw1.LoopReport().Alarm {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no alarm 30 s into the attack: victim %+v, gateway-1 %+v", vr, gw1.LoopReport())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, tr, _ := target.CoverStatus(); tr.Alarm {
		t.Fatalf("the target's client raised the alarm too: %+v", tr)
	}
	if stats, _, _ := victim.CoverStatus(); stats.Loop == 0 || stats.Drop == 0 {
		t.Fatalf("cover streams idle: %+v", stats)
	}
}
