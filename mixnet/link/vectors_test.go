package link

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/flynn/noise"
	"golang.org/x/crypto/curve25519"

	"loam/internal/vectors"
)

// Regenerate with: go test ./mixnet/link -run TestVectors -update
const vectorsPath = "testdata/vectors.json"

type hexBytes = vectors.Hex

// vectorFile is a whole link session with fixed keys: the three handshake
// messages and the first frames each way, a rekey included.
type vectorFile struct {
	Comment             string     `json:"comment"`
	FrameLen            int        `json:"frame_len"`
	WireFrameLen        int        `json:"wire_frame_len"`
	CallerPrologue      hexBytes   `json:"caller_prologue"`
	InitiatorStatic     hexBytes   `json:"initiator_static_private"`
	InitiatorEphemeral  hexBytes   `json:"initiator_ephemeral_private"`
	ResponderStatic     hexBytes   `json:"responder_static_private"`
	ResponderEphemeral  hexBytes   `json:"responder_ephemeral_private"`
	Message1            hexBytes   `json:"message1"`
	Message2            hexBytes   `json:"message2"`
	Message3            hexBytes   `json:"message3"`
	InitiatorFrames     []hexBytes `json:"initiator_frames"`
	InitiatorFramesNote string     `json:"initiator_frames_note"`
	ResponderFrames     []hexBytes `json:"responder_frames"`
	ResponderFramesNote string     `json:"responder_frames_note"`
}

func vectorKeys(t *testing.T) (is, ie, rs, re [32]byte) {
	for i := range 32 {
		is[i], ie[i], rs[i], re[i] = byte(i), byte(0x20+i), byte(0x40+i), byte(0x60+i)
	}
	return
}

// makeVectors runs the session the vector file describes.
func makeVectors(t *testing.T) vectorFile {
	is, ie, rs, re := vectorKeys(t)
	ik, err := KeyPairFromPrivate(is)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := KeyPairFromPrivate(rs)
	if err != nil {
		t.Fatal(err)
	}
	v := vectorFile{
		Comment:             "Loam link v1: Noise_XK_25519_ChaChaPoly_BLAKE2b, every message and frame one wire frame. SPEC links section.",
		FrameLen:            MinFrameLen,
		WireFrameLen:        MinFrameLen + FrameOverhead,
		CallerPrologue:      []byte("loam test vector"),
		InitiatorStatic:     is[:],
		InitiatorEphemeral:  ie[:],
		ResponderStatic:     rs[:],
		ResponderEphemeral:  re[:],
		InitiatorFramesNote: "type 0x01 body \"loam\"; rekey notice (RekeyFrames = 1); type 0x02 body \"after rekey\" under the new key",
		ResponderFramesNote: "padding (type 0x00); type 0x7f body of 64 bytes 0xab",
	}
	icfg := &Config{FrameLen: v.FrameLen, Static: ik, Prologue: v.CallerPrologue, RekeyFrames: 1,
		Clock: fixedClock{}, random: bytes.NewReader(ie[:])}
	rcfg := &Config{FrameLen: v.FrameLen, Static: rk, Prologue: v.CallerPrologue,
		Clock: fixedClock{}, random: bytes.NewReader(re[:])}
	d, a := memPair("initiator", "responder")
	var iw, rw capture
	r := handshakeOver(&tee{d, &iw}, &tee{a, &rw}, icfg, rcfg, rk.Public)
	if r.clientErr != nil || r.serverErr != nil {
		t.Fatal(r.clientErr, r.serverErr)
	}
	defer r.client.Close()
	defer r.server.Close()

	r.client.WriteFrame(0x01, []byte("loam"))
	r.client.WriteFrame(0x02, []byte("after rekey"))
	r.server.WriteKeepalive()
	r.server.WriteFrame(0x7f, bytes.Repeat([]byte{0xab}, v.FrameLen))
	if err := r.client.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := r.server.Flush(); err != nil {
		t.Fatal(err)
	}
	// Each side reads what the other sent.
	for _, want := range []struct {
		c    *Conn
		typ  byte
		body []byte
	}{
		{r.server, 0x01, []byte("loam")}, {r.server, 0x02, []byte("after rekey")},
		{r.client, 0x7f, bytes.Repeat([]byte{0xab}, v.FrameLen)},
	} {
		typ, body, err := want.c.ReadFrame()
		if err != nil || typ != want.typ || !bytes.HasPrefix(body, want.body) {
			t.Fatalf("read %#x %v, want %#x", typ, err, want.typ)
		}
	}

	w := v.WireFrameLen
	if len(iw.b) != 5*w || len(rw.b) != 3*w {
		t.Fatalf("initiator wrote %d bytes, responder %d; W = %d", len(iw.b), len(rw.b), w)
	}
	v.Message1, v.Message3 = iw.b[:w], iw.b[w:2*w]
	v.Message2 = rw.b[:w]
	for i := 2; i < 5; i++ {
		v.InitiatorFrames = append(v.InitiatorFrames, iw.b[i*w:(i+1)*w])
	}
	for i := 1; i < 3; i++ {
		v.ResponderFrames = append(v.ResponderFrames, rw.b[i*w:(i+1)*w])
	}
	return v
}

// TestVectors pins the wire format: the session in testdata/vectors.json,
// with its fixed keys, must come out byte for byte.
func TestVectors(t *testing.T) {
	got := makeVectors(t)
	var want vectorFile
	vectors.Load(t, vectorsPath, &want, func() any { return got })
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Fatalf("session differs from %s:\ngot  %s\nwant %s", vectorsPath, gotJSON, wantJSON)
	}
}

// TestVectorsIndependently reads the vector file with flynn/noise alone,
// following the SPEC text rather than this package's code: it replays the
// initiator from its keys and the recorded message 2, and opens every frame.
func TestVectorsIndependently(t *testing.T) {
	var v vectorFile
	vectors.Load(t, vectorsPath, &v, func() any { return makeVectors(t) })
	w := v.FrameLen + 1 + 16
	if v.WireFrameLen != w {
		t.Fatalf("W = %d for FrameLen %d", v.WireFrameLen, v.FrameLen)
	}
	ePub, _ := curve25519.X25519(v.InitiatorEphemeral, curve25519.Basepoint)
	if !bytes.Equal(v.Message1[:32], ePub) {
		t.Fatal("message 1 does not open with the initiator's ephemeral public key")
	}
	sPub, _ := curve25519.X25519(v.InitiatorStatic, curve25519.Basepoint)
	rPub, _ := curve25519.X25519(v.ResponderStatic, curve25519.Basepoint)
	hs, err := noise.NewHandshakeState(noise.Config{
		CipherSuite:   noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashBLAKE2b),
		Pattern:       noise.HandshakeXK,
		Initiator:     true,
		Prologue:      append([]byte("loam link v1\x00"), v.CallerPrologue...),
		StaticKeypair: noise.DHKey{Private: v.InitiatorStatic, Public: sPub},
		PeerStatic:    rPub,
		Random:        bytes.NewReader(v.InitiatorEphemeral),
	})
	if err != nil {
		t.Fatal(err)
	}
	msg1, _, _, err := hs.WriteMessage(nil, make([]byte, w-48))
	if err != nil || !bytes.Equal(msg1, v.Message1) {
		t.Fatalf("message 1 differs: %v", err)
	}
	payload, _, _, err := hs.ReadMessage(nil, v.Message2)
	if err != nil || !bytes.Equal(payload, make([]byte, w-48)) {
		t.Fatalf("message 2: %v", err)
	}
	msg3, i2r, r2i, err := hs.WriteMessage(nil, make([]byte, w-64))
	if err != nil || !bytes.Equal(msg3, v.Message3) {
		t.Fatalf("message 3 differs: %v", err)
	}
	open := func(cs *noise.CipherState, frames []hexBytes) (out []string) {
		for _, f := range frames {
			if len(f) != w {
				t.Fatalf("frame of %d bytes", len(f))
			}
			p, err := cs.Decrypt(nil, nil, f)
			if err != nil {
				t.Fatalf("frame %d: %v", len(out), err)
			}
			out = append(out, hex.EncodeToString(p[:1])+":"+string(bytes.TrimRight(p[1:], "\x00")))
			if p[0] == 0xff {
				cs.Rekey()
			}
		}
		return out
	}
	if got := open(i2r, v.InitiatorFrames); strings.Join(got, "|") != "01:loam|ff:|02:after rekey" {
		t.Fatalf("initiator frames %q", got)
	}
	if got := open(r2i, v.ResponderFrames); strings.Join(got, "|") != "00:|7f:"+strings.Repeat("\xab", v.FrameLen) {
		t.Fatalf("responder frames %q", got)
	}
}
