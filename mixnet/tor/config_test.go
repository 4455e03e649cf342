package tor

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestMissingTorNamesPackage(t *testing.T) {
	for _, path := range []string{"/nonexistent/bin/tor", "loam-no-such-tor"} {
		_, err := Start(context.Background(), Config{Path: path, DataDir: t.TempDir()})
		if !errors.Is(err, ErrNotInstalled) {
			t.Fatalf("Path %q: err %v, want ErrNotInstalled", path, err)
		}
		if !strings.Contains(err.Error(), "apt-get install tor") {
			t.Fatalf("error %q does not say how to install tor", err)
		}
	}
}

func TestConfigRejected(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no data dir":  {},
		"line break":   {DataDir: t.TempDir(), ExtraTorrc: []string{"TestingTorNetwork 1\nUseBridges 1"}},
		"carriage ret": {DataDir: t.TempDir(), ExtraTorrc: []string{"SocksPort 0\r"}},
		"nul":          {DataDir: t.TempDir(), ExtraTorrc: []string{"Log notice\x00"}},
	} {
		if _, err := Start(context.Background(), cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err %v, want ErrConfig", name, err)
		}
	}
	if _, err := LoadServiceKey(""); !errors.Is(err, ErrConfig) {
		t.Errorf("LoadServiceKey(\"\"): err %v, want ErrConfig", err)
	}
}

func TestTorrcTextIsExtraTorrc(t *testing.T) {
	lines := []string{"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", `GeoIPFile ""`}
	got := string(torrcText(lines))
	want := "# Written by loam mixnet/tor: Config.ExtraTorrc.\n" + strings.Join(lines, "\n") + "\n"
	if got != want {
		t.Fatalf("torrc\n%s\nwant\n%s", got, want)
	}
}

func TestTransportDoesNotListen(t *testing.T) {
	_, err := (&Tor{}).Transport().Listen("127.0.0.1:0")
	if !errors.Is(err, ErrListen) {
		t.Fatalf("Listen: err %v, want ErrListen", err)
	}
	if _, err := (&Tor{closed: true}).Transport().Dial(context.Background(), "x.onion:1"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Dial on a closed Tor: err %v, want ErrClosed", err)
	}
}

func TestParseBootstrap(t *testing.T) {
	for in, want := range map[string]bootstrapStatus{
		`NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"`:                                    {progress: 100, summary: "Done"},
		`NOTICE BOOTSTRAP PROGRESS=50 TAG=loading_descriptors SUMMARY="Loading relay descriptors"`: {progress: 50, summary: "Loading relay descriptors"},
		`WARN BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY="Connecting to a relay" WARNING="Connection refused" REASON=CONNECTREFUSED`: {
			progress: 5, summary: "Connecting to a relay", warning: "Connection refused"},
		`WARN BOOTSTRAP PROGRESS=5 WARNING="a \"quoted\" reason" HOSTADDR="127.0.0.1:1"`: {progress: 5, warning: `a "quoted" reason`},
		`NOTICE BOOTSTRAP PROGRESS=101`: {},
		`NOTICE BOOTSTRAP PROGRESS=x`:   {},
		`NOTICE CIRCUIT_ESTABLISHED`:    {},
		``:                              {},
	} {
		if got := parseBootstrap(in); got != want {
			t.Errorf("parseBootstrap(%q) = %+v, want %+v", in, got, want)
		}
	}
}

func TestParseHSDesc(t *testing.T) {
	id := rfcService
	for in, want := range map[string]hsDesc{
		"650 HS_DESC UPLOAD " + id + " UNKNOWN $AAAA~relay0 bW9vbg":                       {action: "UPLOAD", address: id, hsdir: "$AAAA~relay0"},
		"650 HS_DESC UPLOADED " + id + " UNKNOWN $AAAA~relay0":                            {action: "UPLOADED", address: id, hsdir: "$AAAA~relay0"},
		"650 HS_DESC FAILED " + id + " UNKNOWN $BBBB~auth1 bW9vbg REASON=UPLOAD_REJECTED": {action: "FAILED", address: id, hsdir: "$BBBB~auth1", reason: "UPLOAD_REJECTED"},
	} {
		got, ok := parseHSDesc(in)
		if !ok || got != want {
			t.Errorf("parseHSDesc(%q) = %+v, %t; want %+v", in, got, ok, want)
		}
	}
	for _, in := range []string{"250 OK", "650 HS_DESC UPLOADED", "650 CIRC 1 BUILT", ""} {
		if _, ok := parseHSDesc(in); ok {
			t.Errorf("parseHSDesc(%q) accepted a line that is not an HS_DESC event", in)
		}
	}
}

func FuzzParseHSDesc(f *testing.F) {
	f.Add("650 HS_DESC UPLOADED " + rfcService + " UNKNOWN $AAAA~relay0")
	f.Add("650 HS_DESC FAILED x y z REASON=")
	f.Add("650 HS_DESC ")
	f.Fuzz(func(t *testing.T, line string) {
		ev, ok := parseHSDesc(line)
		if ok && (ev.action == "" || ev.address == "") {
			t.Fatalf("accepted %q with empty fields", line)
		}
	})
}

func FuzzParseBootstrap(f *testing.F) {
	f.Add(`NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"`)
	f.Add(`WARN BOOTSTRAP PROGRESS=5 WARNING="a \"quoted\" reason"`)
	f.Add(`NOTICE BOOTSTRAP PROGRESS=-1`)
	f.Fuzz(func(t *testing.T, s string) {
		st := parseBootstrap(s)
		if st.progress < 0 || st.progress > 100 {
			t.Fatalf("progress %d out of range", st.progress)
		}
	})
}
