package directory

import (
	"fmt"
	"math"
	"time"

	"loam/onion"
)

// Parameters are the network-wide settings a document carries; every node and
// client of an epoch uses the same ones.
type Parameters struct {
	// Hops and UserPayload are the onion.Geometry of every packet.
	Hops, UserPayload int
	// Mu is the mean per-hop mixing delay 1/μ; senders draw each hop's
	// delay from an exponential distribution with this mean.
	Mu time.Duration
	// LambdaP, LambdaL and LambdaD are a client's rates per second of its
	// real-or-drop stream, loops and drops.
	LambdaP, LambdaL, LambdaD float64
	// LambdaM is the rate per second of the loops each mix and gateway
	// sends through the network.
	LambdaM float64
	// EpochPeriod is the length of an epoch; onion keys and documents
	// change once per epoch.
	EpochPeriod time.Duration
	// Grace is how long after its epoch ends an onion key still unwraps
	// packets, so packets in flight at the change of epoch are not lost.
	Grace time.Duration
	// Replicas is the number of mailbox replicas that store each mailbox id.
	Replicas int
}

// DefaultParameters returns the production defaults:
//
//   - Hops 5, UserPayload 2048: gateway, three mix layers and a service;
//     onion.DefaultGeometry, 2457-byte packets.
//   - Mu 50 ms: between Nym's 15 ms and Katzenpost's 200 ms; five hops add
//     about 250 ms on average.
//   - LambdaP 2/s, LambdaL 0.5/s, LambdaD 0.5/s: Loopix asks λ/μ ≥ 2 for good
//     per-mix entropy; these give each client 3 packets a second.
//   - LambdaM 0.5/s: mixes' and gateways' own loops, which reveal n−1 attacks.
//   - EpochPeriod 20 min, as Katzenpost: long enough that documents and key
//     changes are rare, short enough to bound what a stolen onion key opens.
//   - Grace 2 min: far above the delay of any packet in flight at the change
//     of epoch (five hops at 50 ms mean).
//   - Replicas 3: a mailbox survives one replica down and one misbehaving.
func DefaultParameters() Parameters {
	return Parameters{
		Hops:        onion.DefaultGeometry.Hops,
		UserPayload: onion.DefaultGeometry.UserPayload,
		Mu:          50 * time.Millisecond,
		LambdaP:     2,
		LambdaL:     0.5,
		LambdaD:     0.5,
		LambdaM:     0.5,
		EpochPeriod: 20 * time.Minute,
		Grace:       2 * time.Minute,
		Replicas:    3,
	}
}

// Geometry returns the packet geometry of the network.
func (p Parameters) Geometry() onion.Geometry {
	return onion.Geometry{Hops: p.Hops, UserPayload: p.UserPayload}
}

// Validate checks the parameters against the bounds of the specification.
// Errors wrap ErrInvalid.
func (p Parameters) Validate() error {
	if err := p.validate(); err != nil {
		return fmt.Errorf("%w: parameters: %s", ErrInvalid, err)
	}
	return nil
}

func (p Parameters) validate() error {
	if err := p.Geometry().Validate(); err != nil {
		return bad("%v", err)
	}
	if p.Hops < MixLayers+2 {
		return bad("%d hops cannot reach a service through %d mix layers and a gateway", p.Hops, MixLayers)
	}
	if err := checkMicros(p.Mu, "mu", time.Microsecond, maxMu); err != nil {
		return err
	}
	rates := []struct {
		name     string
		v        float64
		positive bool
	}{
		{"lambdaP", p.LambdaP, true}, // clients must be able to send at all
		{"lambdaL", p.LambdaL, false},
		{"lambdaD", p.LambdaD, false},
		{"lambdaM", p.LambdaM, false},
	}
	for _, r := range rates {
		// The sign bit is refused too: -0 would encode differently from 0.
		if math.IsNaN(r.v) || math.Signbit(r.v) || r.v > maxLambda || (r.positive && r.v == 0) {
			return bad("%s = %v, want 0 to %v per second (lambdaP above 0)", r.name, r.v, maxLambda)
		}
	}
	if err := checkMicros(p.EpochPeriod, "epoch period", minEpochPeriod, maxEpochPeriod); err != nil {
		return err
	}
	if err := checkMicros(p.Grace, "grace", 0, p.EpochPeriod); err != nil {
		return err
	}
	if p.Replicas < 1 || p.Replicas > maxReplicas {
		return bad("%d replicas, want 1 to %d", p.Replicas, maxReplicas)
	}
	return nil
}

func checkMicros(d time.Duration, name string, lo, hi time.Duration) error {
	if d < lo || d > hi {
		return bad("%s = %v, want %v to %v", name, d, lo, hi)
	}
	if d%time.Microsecond != 0 {
		return bad("%s = %v is not whole microseconds", name, d)
	}
	return nil
}

// appendParams writes the ParamsLen-byte encoding of valid parameters.
func appendParams(b []byte, p Parameters) []byte {
	b = append(b, byte(p.Hops))
	b = appendU32(b, uint32(p.UserPayload))
	b = appendMicros(b, p.Mu)
	b = appendF64(b, p.LambdaP)
	b = appendF64(b, p.LambdaL)
	b = appendF64(b, p.LambdaD)
	b = appendF64(b, p.LambdaM)
	b = appendMicros(b, p.EpochPeriod)
	b = appendMicros(b, p.Grace)
	return append(b, byte(p.Replicas))
}

func readParams(r *reader) Parameters {
	var p Parameters
	p.Hops = int(r.u8("hops"))
	p.UserPayload = int(r.u32("user payload"))
	p.Mu = r.micros("mu")
	p.LambdaP = r.f64("lambdaP")
	p.LambdaL = r.f64("lambdaL")
	p.LambdaD = r.f64("lambdaD")
	p.LambdaM = r.f64("lambdaM")
	p.EpochPeriod = r.micros("epoch period")
	p.Grace = r.micros("grace")
	p.Replicas = int(r.u8("replicas"))
	if r.err == nil {
		if err := p.validate(); err != nil {
			r.fail("parameters: %v", err)
		}
	}
	return p
}
