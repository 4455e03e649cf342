package nodeconfig

import (
	"crypto/ed25519"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"loam/mailbox"
	"loam/onion"
)

// genFile draws a valid File of any role.
func genFile(t *rapid.T) *File {
	f := Defaults()
	role := rapid.SampledFrom(Roles).Draw(t, "role")
	f.Role = string(role)
	f.Name = rapid.StringMatching(`[a-zA-Z0-9][a-zA-Z0-9 ._"\\é-]{0,40}`).Draw(t, "name")
	f.DataDir = rapid.SampledFrom([]string{".", "data", "/var/lib/loam"}).Draw(t, "data_dir")
	addr := func(label string) string {
		return fmt.Sprintf("127.0.0.%d:%d", rapid.IntRange(1, 254).Draw(t, label+"host"), rapid.IntRange(1, 65535).Draw(t, label+"port"))
	}
	if rapid.Bool().Draw(t, "metrics") {
		f.MetricsListen = addr("metrics")
	} else {
		f.MetricsListen = ""
	}
	f.LogLevel = rapid.SampledFrom([]string{"debug", "info", "warn", "error"}).Draw(t, "log_level")
	f.LogFormat = rapid.SampledFrom([]string{"text", "json"}).Draw(t, "log_format")
	dur := func(label string, lo, hi time.Duration) string {
		return FormatDuration(time.Duration(rapid.Int64Range(int64(lo/time.Millisecond), int64(hi/time.Millisecond)).Draw(t, label)) * time.Millisecond)
	}
	n := rapid.IntRange(0, 5).Draw(t, "authorities")
	for i := range n {
		key := rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, fmt.Sprintf("key%d", i))
		key[0] = byte(i) // distinct
		f.Directory.Authorities = append(f.Directory.Authorities, AuthorityEntry{Key: EncodeKey(key), URL: "http://" + addr(fmt.Sprintf("url%d", i))})
	}
	if n > 0 {
		f.Directory.Threshold = rapid.SampledFrom([]int{0, n/2 + 1, n}).Draw(t, "threshold")
	}
	if role == RoleAuthority {
		p := &f.Authority.Parameters
		f.Authority.Listen = addr("authority")
		p.Hops = rapid.IntRange(5, 16).Draw(t, "p.hops")
		p.UserPayload = rapid.IntRange(64, 65536).Draw(t, "p.payload")
		p.Mu = dur("p.mu", time.Millisecond, time.Minute)
		p.LambdaP = rapid.Float64Range(0.001, 1000).Draw(t, "p.lambda_p")
		p.LambdaL = rapid.Float64Range(0, 1000).Draw(t, "p.lambda_l")
		p.LambdaD = rapid.Float64Range(0, 1000).Draw(t, "p.lambda_d")
		p.LambdaM = rapid.Float64Range(0, 1000).Draw(t, "p.lambda_m")
		period := time.Duration(rapid.Int64Range(1, 24*3600).Draw(t, "p.period")) * time.Second
		p.EpochPeriod = FormatDuration(period)
		p.Grace = FormatDuration(time.Duration(rapid.Int64Range(0, int64(period/time.Second)).Draw(t, "p.grace")) * time.Second)
		p.Replicas = rapid.IntRange(1, 16).Draw(t, "p.replicas")
		if rapid.Bool().Draw(t, "bootstrap") {
			f.Authority.Bootstrap = FormatDuration(period / 8)
		}
		return f
	}
	f.Listen = addr("listen")
	if rapid.Bool().Draw(t, "advertise") {
		f.Advertise = addr("advertise")
	}
	if role == RoleMix {
		f.Layer = rapid.IntRange(1, 3).Draw(t, "layer")
	}
	f.Network = NetworkSection{Hops: rapid.IntRange(5, 16).Draw(t, "hops"), UserPayload: rapid.IntRange(64, 65536).Draw(t, "payload"),
		EpochPeriod: dur("epoch", time.Second, 24*time.Hour)}
	if role == RoleService {
		f.Services = rapid.SampledFrom([][]string{{"echo"}, {"mailbox"}, {"echo", "mailbox"}}).Draw(t, "services")
		largest := mailbox.MaxBlob(onion.Geometry{Hops: f.Network.Hops, UserPayload: f.Network.UserPayload})
		if largest < 1 {
			f.Services = []string{"echo"} // no room for a deposit in this network
		}
		if f.OffersMailbox() {
			f.Mailbox = MailboxSection{
				Dir:        rapid.SampledFrom([]string{"mailbox", "boxes/a", "/srv/loam/mailbox"}).Draw(t, "mailbox.dir"),
				TTL:        dur("mailbox.ttl", time.Minute, 30*24*time.Hour),
				MaxBlob:    rapid.IntRange(0, largest).Draw(t, "mailbox.max_blob"),
				MaxEntries: rapid.IntRange(1, 1<<24).Draw(t, "mailbox.max_entries"),
				MaxBytes:   rapid.Int64Range(1, 1<<40).Draw(t, "mailbox.max_bytes"),
				Workers:    rapid.IntRange(1, 1024).Draw(t, "mailbox.workers"),
				Queue:      rapid.IntRange(1, 1<<20).Draw(t, "mailbox.queue"),
				GCInterval: dur("mailbox.gc_interval", time.Second, 24*time.Hour),
			}
		}
	}
	if role == RoleGateway {
		f.Tor = TorSection{
			Enabled:          rapid.Bool().Draw(t, "tor.enabled"),
			DataDir:          rapid.SampledFrom([]string{"tor", "/var/lib/loam/tor"}).Draw(t, "tor.data_dir"),
			OnionPort:        rapid.IntRange(1, 65535).Draw(t, "tor.onion_port"),
			Path:             rapid.SampledFrom([]string{"", "/usr/sbin/tor"}).Draw(t, "tor.path"),
			Torrc:            rapid.SliceOfN(rapid.StringMatching(`[A-Za-z][A-Za-z0-9 ."\\:/]{0,30}`), 0, 3).Draw(t, "tor.torrc"),
			BootstrapTimeout: dur("tor.bootstrap_timeout", time.Second, time.Hour),
		}
		if len(f.Tor.Torrc) == 0 {
			f.Tor.Torrc = nil
		}
	}
	f.Limits = LimitsSection{
		Workers: rapid.IntRange(0, 64).Draw(t, "workers"), Queue: rapid.IntRange(1, 1<<20).Draw(t, "queue"),
		LinkQueue: rapid.IntRange(1, 1<<20).Draw(t, "link_queue"), MaxScheduled: rapid.IntRange(1, 1<<20).Draw(t, "max_scheduled"),
		ReplayCapacity: rapid.Int64Range(1, 1<<30).Draw(t, "replay_capacity"), ReplayFP: rapid.Float64Range(1e-12, 0.5).Draw(t, "replay_fp"),
		ClientHold: rapid.IntRange(1, 1<<20).Draw(t, "client_hold"), ClientHoldFor: dur("client_hold_for", time.Second, time.Hour),
	}
	return f
}

// TestRenderRoundTrip: a valid File renders to text that decodes to the
// same File and passes Validate.
func TestRenderRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		f := genFile(t)
		if err := f.Validate("gen.toml"); err != nil {
			t.Fatalf("generated file invalid: %v", err)
		}
		text := f.Render()
		back, err := Decode("gen.toml", text)
		if err != nil {
			t.Fatalf("%v\n%s", err, text)
		}
		back.present = nil
		if !reflect.DeepEqual(f, back) {
			t.Fatalf("round trip changed the file:\n%+v\n%+v\n%s", f, back, text)
		}
		if err := back.Validate("gen.toml"); err != nil {
			t.Fatalf("decoded file invalid: %v", err)
		}
	})
}

// TestRenderDocumentsEveryKey: every key the role has is written with a
// comment above it or its section, so no setting is undocumented.
func TestRenderDocumentsEveryKey(t *testing.T) {
	for _, role := range append(Roles, "mailbox replica") {
		f := Defaults()
		if role == "mailbox replica" {
			role = RoleService
			f.Services = []string{"mailbox"}
		}
		f.Role, f.Name, f.Listen, f.Layer = string(role), "n", "127.0.0.1:1", 0
		if role == RoleMix {
			f.Layer = 1
		}
		if role == RoleAuthority {
			f.Listen, f.Authority.Listen = "", "127.0.0.1:1"
		}
		if role == RoleService && f.Services == nil {
			f.Services = []string{"echo"}
		}
		text := string(f.Render())
		lines := strings.Split(text, "\n")
		for i, line := range lines {
			if line == "" || line[0] == '#' || line[0] == '[' {
				continue
			}
			key := strings.TrimSpace(strings.SplitN(line, "=", 2)[0])
			documented := false
			for j := i - 1; j >= 0 && lines[j] != ""; j-- {
				if strings.HasPrefix(lines[j], "#") {
					documented = true
				}
			}
			if !documented {
				t.Errorf("%s: key %q has no comment above it", role, key)
			}
		}
	}
}

// FuzzDecode: no input makes decoding or checking panic, and what decodes
// and checks renders to text that decodes to the same values.
func FuzzDecode(f *testing.F) {
	for _, role := range Roles {
		d := Defaults()
		d.Role, d.Name, d.Listen = string(role), "seed", "127.0.0.1:7100"
		if role == RoleAuthority {
			d.Listen, d.Authority.Listen = "", "127.0.0.1:7000"
		}
		if role == RoleMix {
			d.Layer = 2
		}
		if role == RoleService {
			d.Services = []string{"echo"}
		}
		pub := make(ed25519.PublicKey, 32)
		pub[0] = 1
		d.Directory.Authorities = []AuthorityEntry{{Key: EncodeKey(pub), URL: "http://127.0.0.1:7000"}}
		f.Add(d.Render())
	}
	replica := Defaults()
	replica.Role, replica.Name, replica.Listen, replica.Services = string(RoleService), "replica", "127.0.0.1:7300", []string{"mailbox"}
	f.Add(replica.Render())
	f.Add([]byte("role = \"gateway\"\n[tor]\nenabled = true\ntorrc = [\"a\\nb\"]\n"))
	f.Add([]byte("role = \"service\"\nservices = [\"mailbox\"]\n[mailbox]\nmax_blob = -1\nttl = \"1ns\"\n"))
	f.Add([]byte("role = \"mix\"\nlayer = 9\n[limits]\nworker = 1\n"))
	f.Add([]byte("role = 3\n"))
	f.Add([]byte("[[directory.authorities]]\nkey = \"\"\nurl = \"http://\"\n[authority.parameters]\nmu = \"1ns\"\n"))
	f.Add([]byte("\x00\xff[["))
	f.Fuzz(func(t *testing.T, text []byte) {
		file, err := Decode("fuzz.toml", text)
		if err != nil {
			return
		}
		if err := file.Validate("fuzz.toml"); err != nil {
			return
		}
		back, err := Decode("fuzz.toml", file.Render())
		if err != nil {
			t.Fatalf("a valid file renders to text that does not decode: %v", err)
		}
		if err := back.Validate("fuzz.toml"); err != nil {
			t.Fatalf("a valid file renders to an invalid one: %v", err)
		}
	})
}

// FuzzDecodeKeyFile: no key file makes the decoder panic, and what it
// accepts is 32 bytes.
func FuzzDecodeKeyFile(f *testing.F) {
	f.Add([]byte("-----BEGIN LOAM LINK KEY-----\nAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\n-----END LOAM LINK KEY-----\n"))
	f.Add([]byte("-----BEGIN LOAM LINK KEY-----\nk: v\n\nAQID\n-----END LOAM LINK KEY-----\n"))
	f.Add([]byte("garbage"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := decodeKeyFile(raw, linkBlock)
		if err == nil && len(b) != 32 {
			t.Fatalf("accepted a key of %d bytes", len(b))
		}
	})
}
