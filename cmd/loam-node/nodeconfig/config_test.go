package nodeconfig

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"loam/mailbox"
	"loam/mixnet/directory"
	"loam/mixnet/link"
)

// testAuthorities returns n authority entries with fresh keys.
func testAuthorities(t testing.TB, n int) []AuthorityEntry {
	t.Helper()
	var out []AuthorityEntry
	for i := range n {
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, AuthorityEntry{Key: EncodeKey(pub), URL: "http://127.0.0.1:700" + string(rune('0'+i))})
	}
	return out
}

// setup writes keys and a valid node.toml for role into a fresh directory
// and returns the directory and the file's path.
func setup(t *testing.T, role Role, layer int) (string, string) {
	t.Helper()
	return setupServices(t, role, layer, []string{"echo"})
}

// setupServices is setup with the services a service node offers.
func setupServices(t *testing.T, role Role, layer int, services []string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	id, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteIdentity(dir, id, false); err != nil {
		t.Fatal(err)
	}
	f := Defaults()
	f.Role, f.Name, f.Layer = string(role), "node-"+string(role), layer
	f.MetricsListen = "127.0.0.1:9100"
	f.Directory.Authorities = testAuthorities(t, 3)
	if role == RoleAuthority {
		f.Authority.Listen = "127.0.0.1:7000"
		f.Directory.Authorities[0].Key = EncodeKey(id.Public().(ed25519.PublicKey))
	} else {
		lk, err := link.GenerateKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteLink(dir, lk, false); err != nil {
			t.Fatal(err)
		}
		f.Listen = "127.0.0.1:7100"
	}
	if role == RoleService {
		f.Services = services
	}
	path := filepath.Join(dir, "node.toml")
	if err := f.Write(path, false); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

func TestGeneratedConfigsLoad(t *testing.T) {
	for _, tc := range []struct {
		role  Role
		layer int
	}{{RoleAuthority, 0}, {RoleGateway, 0}, {RoleMix, 1}, {RoleMix, 3}, {RoleService, 0}} {
		_, path := setup(t, tc.role, tc.layer)
		cfg, err := Load(path)
		if err != nil {
			t.Fatalf("%s: %v", tc.role, err)
		}
		if cfg.Role != tc.role || cfg.Layer != tc.layer || cfg.Threshold != 2 || len(cfg.Authorities) != 3 {
			t.Errorf("%s: loaded %+v", tc.role, cfg)
		}
		if cfg.DataDir != filepath.Dir(path) {
			t.Errorf("%s: data_dir %q, want the file's directory %q", tc.role, cfg.DataDir, filepath.Dir(path))
		}
		if tc.role == RoleAuthority {
			if cfg.Params != directory.DefaultParameters() || cfg.Self() == nil {
				t.Errorf("authority: params %+v, self %v", cfg.Params, cfg.Self())
			}
			continue
		}
		if cfg.Network.EpochPeriod != 20*time.Minute || cfg.Limits.Queue != DefaultQueue || cfg.Link.Public == (link.PublicKey{}) {
			t.Errorf("%s: network %+v limits %+v", tc.role, cfg.Network, cfg.Limits)
		}
		if tc.role == RoleGateway {
			want := Tor{DataDir: filepath.Join(cfg.DataDir, "tor"), OnionPort: 443, BootstrapTimeout: 3 * time.Minute}
			if !reflect.DeepEqual(cfg.Tor, want) {
				t.Errorf("gateway: tor %+v, want %+v", cfg.Tor, want)
			}
		}
	}
}

// TestMailboxReplicaConfig: a service node offering "mailbox" gets the
// replica's defaults (SPEC.md §7.4), the store under data_dir, and the
// largest blob of the network when max_blob is 0.
func TestMailboxReplicaConfig(t *testing.T) {
	_, path := setupServices(t, RoleService, 0, []string{"echo", "mailbox"})
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Mailbox{
		Dir:        filepath.Join(cfg.DataDir, "mailbox"),
		Limits:     mailbox.Limits{MaxBlob: 1507, MaxEntries: 65536, MaxBytes: 64 << 20, TTL: 7 * 24 * time.Hour},
		Workers:    DefaultMailboxWorkers,
		Queue:      4096,
		GCInterval: 10 * time.Minute,
	}
	if !reflect.DeepEqual(cfg.Mailbox, want) || !cfg.Offers("mailbox") || cfg.Offers("relay") {
		t.Fatalf("mailbox %+v, want %+v", cfg.Mailbox, want)
	}
	b, _ := os.ReadFile(path)
	s := strings.Replace(string(b), `dir = "mailbox"`, `dir = "/srv/loam/boxes"`, 1)
	s = strings.Replace(s, "max_blob = 0", "max_blob = 1000", 1)
	s = strings.Replace(s, `ttl = "168h"`, `ttl = "36h"`, 1)
	os.WriteFile(path, []byte(s), 0o600)
	cfg, err = Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Mailbox.Dir != "/srv/loam/boxes" || cfg.Mailbox.Limits.MaxBlob != 1000 || cfg.Mailbox.Limits.TTL != 36*time.Hour {
		t.Fatalf("edited mailbox %+v", cfg.Mailbox)
	}
}

// TestTorConfig: a gateway's [tor] section, enabled with bridges.
func TestTorConfig(t *testing.T) {
	_, path := setup(t, RoleGateway, 0)
	b, _ := os.ReadFile(path)
	s := strings.Replace(string(b), "enabled = false", "enabled = true", 1)
	s = strings.Replace(s, "torrc = []", `torrc = ["UseBridges 1", "Bridge 192.0.2.1:443"]`, 1)
	s = strings.Replace(s, `data_dir = "tor"`, `data_dir = "/var/lib/loam/tor"`, 1)
	s = strings.Replace(s, "onion_port = 443", "onion_port = 7100", 1)
	s = strings.Replace(s, `path = ""`, `path = "/usr/local/bin/tor"`, 1)
	os.WriteFile(path, []byte(s), 0o600)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Tor{Enabled: true, DataDir: "/var/lib/loam/tor", OnionPort: 7100, Path: "/usr/local/bin/tor",
		Torrc: []string{"UseBridges 1", "Bridge 192.0.2.1:443"}, BootstrapTimeout: 3 * time.Minute}
	if !reflect.DeepEqual(cfg.Tor, want) {
		t.Fatalf("tor %+v, want %+v", cfg.Tor, want)
	}
}

// TestBadConfigs: every bad configuration is an error that wraps
// ErrInvalid and names the field and what is wanted; none panics.
func TestBadConfigs(t *testing.T) {
	replace := func(old, new string) func(string) string {
		return func(s string) string {
			if !strings.Contains(s, old) {
				panic("test edit: " + old + " not in the file")
			}
			return strings.Replace(s, old, new, 1)
		}
	}
	dropAuthorities := func(s string) string {
		i := strings.Index(s, "[[directory.authorities]]")
		j := strings.Index(s, "# Queue bounds")
		if j < 0 {
			j = strings.Index(s, "[authority]")
		}
		return s[:i] + s[j:]
	}
	chmod := func(name string, mode os.FileMode) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			if err := os.Chmod(filepath.Join(dir, name), mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	write := func(name, content string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	mailboxNode := []string{"mailbox"}
	for _, tc := range []struct {
		name     string
		role     Role
		layer    int
		services []string // a service node's; nil: echo
		edit     func(string) string
		prep     func(t *testing.T, dir string)
		want     string
	}{
		{name: "missing role", role: RoleGateway, edit: replace(`role = "gateway"`, ""), want: "role: required"},
		{name: "unknown role", role: RoleGateway, edit: replace(`role = "gateway"`, `role = "relay"`), want: `role: "relay" is not a role; want authority, gateway, mix or service`},
		{name: "mix layer 4", role: RoleMix, layer: 1, edit: replace("layer = 1", "layer = 4"), want: "layer: a mix is in layer 1, 2 or 3; got 4"},
		{name: "mix layer 0", role: RoleMix, layer: 1, edit: replace("layer = 1", ""), want: "layer: a mix is in layer 1, 2 or 3; got 0"},
		{name: "gateway with a layer", role: RoleGateway, edit: replace(`name =`, "layer = 2\nname ="), want: "layer: only mixes have a layer"},
		{name: "layer of the wrong type", role: RoleMix, layer: 2, edit: replace("layer = 2", `layer = "two"`), want: "layer: line "},
		{name: "threshold of the wrong type", role: RoleMix, layer: 2, edit: replace("threshold = 0", `threshold = "2"`), want: "want an integer; got a string"},
		{name: "syntax error", role: RoleMix, layer: 2, edit: replace(`log_level = "info"`, `log_level = `), want: "line "},
		{name: "missing name", role: RoleGateway, edit: replace(`name = "node-gateway"`, ""), want: "name: required"},
		{name: "name with control character", role: RoleGateway, edit: replace(`name = "node-gateway"`, `name = "a\tb"`), want: "name: control characters"},
		{name: "name too long", role: RoleGateway, edit: replace(`name = "node-gateway"`, `name = "`+strings.Repeat("n", 65)+`"`), want: "name: at most 64 bytes"},
		{name: "empty data_dir", role: RoleGateway, edit: replace(`data_dir = "."`, `data_dir = ""`), want: "data_dir: required"},
		{name: "listen without port", role: RoleGateway, edit: replace(`listen = "127.0.0.1:7100"`, `listen = "127.0.0.1"`), want: `listen: want host:port such as 127.0.0.1:7100; got "127.0.0.1"`},
		{name: "listen port 0", role: RoleService, edit: replace(`listen = "127.0.0.1:7100"`, `listen = "127.0.0.1:0"`), want: `listen: port "0": want 1 to 65535`},
		{name: "listen port out of range", role: RoleService, edit: replace(`listen = "127.0.0.1:7100"`, `listen = "127.0.0.1:70000"`), want: `listen: port "70000"`},
		{name: "missing listen", role: RoleMix, layer: 3, edit: replace(`listen = "127.0.0.1:7100"`, ""), want: "listen: required"},
		{name: "every interface without advertise", role: RoleGateway, edit: replace(`listen = "127.0.0.1:7100"`, `listen = "0.0.0.0:7100"`), want: "advertise: required when listen (0.0.0.0:7100) binds every interface"},
		{name: "advertise not dialable", role: RoleGateway, edit: replace(`advertise = ""`, `advertise = "[::]:7100"`), want: "advertise: \"[::]:7100\" is not an address peers can dial"},
		{name: "bad metrics_listen", role: RoleGateway, edit: replace(`metrics_listen = "127.0.0.1:9100"`, `metrics_listen = "9100"`), want: "metrics_listen: want host:port"},
		{name: "bad log level", role: RoleGateway, edit: replace(`log_level = "info"`, `log_level = "verbose"`), want: `log_level: want debug, info, warn or error; got "verbose"`},
		{name: "bad log format", role: RoleGateway, edit: replace(`log_format = "text"`, `log_format = "xml"`), want: "log_format: want text or json"},
		{name: "epoch period not a duration", role: RoleGateway, edit: replace(`epoch_period = "20m"`, `epoch_period = "4"`), want: `network.epoch_period: "4" is not a duration`},
		{name: "epoch period too short", role: RoleGateway, edit: replace(`epoch_period = "20m"`, `epoch_period = "500ms"`), want: "network.epoch_period: want 1s to 24h; got 500ms"},
		{name: "too few hops", role: RoleGateway, edit: replace("hops = 5", "hops = 3"), want: "network.hops: want 5 to 16"},
		{name: "payload too small", role: RoleGateway, edit: replace("user_payload = 2048", "user_payload = 10"), want: "network.user_payload: want 64 to 65536 bytes; got 10"},
		{name: "unknown key", role: RoleMix, layer: 1, edit: replace("workers = 0", "worker = 4"), want: "limits.worker: unknown key"},
		{name: "unknown top-level key", role: RoleMix, layer: 1, edit: replace(`name =`, "colour = \"blue\"\nname ="), want: "colour: unknown key"},
		{name: "unknown section", role: RoleMix, layer: 1, edit: func(s string) string { return s + "\n[mailbox]\nsize = 1\n" }, want: "mailbox.size: unknown key"},
		{name: "zero queue", role: RoleGateway, edit: replace("queue = 4096", "queue = 0"), want: "limits.queue: want 1 to"},
		{name: "replay rate of 1.5", role: RoleGateway, edit: replace("replay_fp = 1e-06", "replay_fp = 1.5"), want: "limits.replay_fp: want a false-positive rate from 1e-12 to below 1"},
		{name: "replay rate of 1e-300", role: RoleGateway, edit: replace("replay_fp = 1e-06", "replay_fp = 1e-300"), want: "limits.replay_fp: want a false-positive rate from 1e-12 to below 1"},
		{name: "bad client_hold_for", role: RoleGateway, edit: replace(`client_hold_for = "10m"`, `client_hold_for = "ten minutes"`), want: `limits.client_hold_for: "ten minutes" is not a duration`},
		{name: "bad authority key", role: RoleGateway, edit: func(s string) string {
			i := strings.Index(s, `key = "`) + len(`key = "`)
			return s[:i] + "not-base64!" + s[i+44:]
		}, want: "directory.authorities[0].key: \"not-base64!\" is not a 32-byte key in standard base64"},
		{name: "short authority key", role: RoleGateway, edit: func(s string) string {
			i := strings.Index(s, `key = "`) + len(`key = "`)
			return s[:i] + "AAAA" + s[i+44:]
		}, want: "directory.authorities[0].key"},
		{name: "authority listed twice", role: RoleGateway, edit: func(s string) string {
			i := strings.Index(s, "[[directory.authorities]]")
			j := strings.Index(s[i+1:], "[[directory.authorities]]") + i + 1
			return s[:j] + s[i:j] + s[j:]
		}, want: "directory.authorities[1].key: the same authority as directory.authorities[0]"},
		{name: "bad authority url", role: RoleGateway, edit: replace(`url = "http://127.0.0.1:7000"`, `url = "ftp://127.0.0.1:7000"`), want: "directory.authorities[0].url: want http://host:port or https://host:port"},
		{name: "threshold above the authorities", role: RoleMix, layer: 2, edit: replace("threshold = 0", "threshold = 5"), want: "directory.threshold: 5 signatures but only 3 authorities listed; want 2 to 3"},
		{name: "threshold not a majority", role: RoleMix, layer: 2, edit: replace("threshold = 0", "threshold = 1"), want: "directory.threshold: 1 of 3 authorities is not a majority"},
		{name: "no authorities", role: RoleService, edit: dropAuthorities, want: "directory.authorities: none listed"},
		{name: "services on a mix", role: RoleMix, layer: 1, edit: replace(`[network]`, "services = [\"echo\"]\n[network]"), want: "services: only service nodes run services; remove it for a mix"},
		{name: "unknown service", role: RoleService, edit: replace(`services = ["echo"]`, `services = ["relay"]`), want: `services: unknown service "relay"; this build offers echo, mailbox`},
		{name: "[mailbox] on a mix", role: RoleMix, layer: 2, edit: func(s string) string { return s + "\n[mailbox]\nttl = \"1h\"\n" }, want: `mailbox: only a service node offering "mailbox" has a [mailbox] section; remove it (this is a mix)`},
		{name: "[mailbox] without the service", role: RoleService, edit: func(s string) string { return s + "\n[mailbox]\nttl = \"1h\"\n" }, want: `mailbox: only a service node offering "mailbox" has a [mailbox] section; remove it (this offers echo)`},
		{name: "mailbox dir empty", role: RoleService, services: mailboxNode, edit: replace(`dir = "mailbox"`, `dir = ""`), want: "mailbox.dir: required"},
		{name: "mailbox ttl not a duration", role: RoleService, services: mailboxNode, edit: replace(`ttl = "168h"`, `ttl = "7 days"`), want: `mailbox.ttl: "7 days" is not a duration`},
		{name: "mailbox ttl too short", role: RoleService, services: mailboxNode, edit: replace(`ttl = "168h"`, `ttl = "30s"`), want: "mailbox.ttl: want 1m to 8760h; got 30s"},
		{name: "mailbox max_blob above the network's", role: RoleService, services: mailboxNode, edit: replace("max_blob = 0", "max_blob = 2000"), want: "mailbox.max_blob: want 0 (the largest a deposit carries in this network, 1507 bytes) to 1507; got 2000"},
		{name: "mailbox max_entries zero", role: RoleService, services: mailboxNode, edit: replace("max_entries = 65536", "max_entries = 0"), want: "mailbox.max_entries: want 1 to"},
		{name: "mailbox max_bytes negative", role: RoleService, services: mailboxNode, edit: replace("max_bytes = 67108864", "max_bytes = -1"), want: "mailbox.max_bytes: want 1 to"},
		{name: "mailbox workers zero", role: RoleService, services: mailboxNode, edit: replace("workers = 64", "workers = 0"), want: "mailbox.workers: want 1 to 1024; got 0"},
		{name: "mailbox queue zero", role: RoleService, services: mailboxNode, edit: replace("queue = 4096\n# How often", "queue = 0\n# How often"), want: "mailbox.queue: want 1 to"},
		{name: "mailbox gc_interval", role: RoleService, services: mailboxNode, edit: replace(`gc_interval = "10m"`, `gc_interval = "0s"`), want: "mailbox.gc_interval: want 1s to 24h; got 0s"},
		{name: "mailbox in a network without room", role: RoleService, services: mailboxNode, edit: replace("user_payload = 2048", "user_payload = 400"), want: "mailbox: a packet of this network (network.user_payload 400, 5 hops) has no room for a deposit"},
		{name: "mailbox unknown key", role: RoleService, services: mailboxNode, edit: replace(`ttl = "168h"`, "ttl = \"168h\"\nsize = 3"), want: "mailbox.size: unknown key"},
		{name: "[tor] on a mix", role: RoleMix, layer: 1, edit: func(s string) string { return s + "\n[tor]\nenabled = true\n" }, want: "tor: only a gateway runs Tor (an onion service for its clients); remove [tor] for a mix"},
		{name: "[tor] on a service node", role: RoleService, edit: func(s string) string { return s + "\n[tor]\nenabled = false\n" }, want: "tor: only a gateway runs Tor"},
		{name: "tor onion_port zero", role: RoleGateway, edit: replace("onion_port = 443", "onion_port = 0"), want: "tor.onion_port: want the onion service's virtual port, 1 to 65535; got 0"},
		{name: "tor torrc with a line break", role: RoleGateway, edit: replace("torrc = []", `torrc = ["UseBridges 1", "Bridge a\nControlPort 9051"]`), want: `tor.torrc[1]: want one torrc option on one line`},
		{name: "tor torrc empty line", role: RoleGateway, edit: replace("torrc = []", `torrc = [""]`), want: `tor.torrc[0]: want one torrc option on one line`},
		{name: "tor bootstrap_timeout", role: RoleGateway, edit: replace(`bootstrap_timeout = "3m"`, `bootstrap_timeout = "soon"`), want: `tor.bootstrap_timeout: "soon" is not a duration`},
		{name: "tor data_dir empty", role: RoleGateway, edit: replace(`data_dir = "tor"`, `data_dir = ""`), want: "tor.data_dir: required"},
		{name: "tor enabled of the wrong type", role: RoleGateway, edit: replace("enabled = false", `enabled = "yes"`), want: "tor.enabled: line "},
		{name: "authority with [mailbox]", role: RoleAuthority, edit: func(s string) string { return s + "\n[mailbox]\nttl = \"1h\"\n" }, want: `mailbox: only a service node offering "mailbox" has a [mailbox] section; remove it`},
		{name: "authority with [tor]", role: RoleAuthority, edit: func(s string) string { return s + "\n[tor]\nenabled = true\n" }, want: "tor: only a gateway runs Tor; remove it"},
		{name: "no services", role: RoleService, edit: replace(`services = ["echo"]`, `services = []`), want: "services: a service node offers 1 to 8 services"},
		{name: "[authority] on a node", role: RoleGateway, edit: func(s string) string { return s + "\n[authority]\nlisten = \"127.0.0.1:7000\"\n" }, want: "authority: only an authority has an [authority] section; this is a gateway"},
		{name: "missing link key", role: RoleGateway, prep: func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, LinkFile)) }, want: "link.key: no such file (`loam-node init` creates it)"},
		{name: "key readable by others", role: RoleGateway, prep: chmod(IdentityFile, 0o644), want: "identity.key: mode 0644 lets other users read the key; run chmod 600"},
		{name: "corrupt key", role: RoleMix, layer: 1, prep: write(IdentityFile, "garbage\n"), want: "identity.key: not a key file"},
		{name: "truncated key", role: RoleMix, layer: 1, prep: write(LinkFile, "-----BEGIN LOAM LINK KEY-----\nAAAA\n-----END LOAM LINK KEY-----\n"), want: "link.key: key of 3 bytes, want 32"},
		{name: "swapped key files", role: RoleService, prep: func(t *testing.T, dir string) {
			a, b := filepath.Join(dir, IdentityFile), filepath.Join(dir, LinkFile)
			os.Rename(a, a+".x")
			os.Rename(b, a)
			os.Rename(a+".x", b)
		}, want: `holds a "LOAM LINK KEY", want a "LOAM IDENTITY KEY" (files swapped?)`},
		{name: "all-zero key", role: RoleGateway, prep: write(IdentityFile, "-----BEGIN LOAM IDENTITY KEY-----\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n-----END LOAM IDENTITY KEY-----\n"), want: "identity.key: the key is all zeros"},
		{name: "authority grace above the epoch", role: RoleAuthority, edit: replace(`grace = "2m"`, `grace = "30m"`), want: "authority.parameters.grace: want at most the epoch period (20m); got 30m"},
		{name: "authority mu zero", role: RoleAuthority, edit: replace(`mu = "50ms"`, `mu = "0s"`), want: "authority.parameters.mu: want 1us to 1m; got 0s"},
		{name: "authority mu not whole microseconds", role: RoleAuthority, edit: replace(`mu = "50ms"`, `mu = "1500ns"`), want: "authority.parameters.mu: want a whole number of microseconds"},
		{name: "authority lambda_p zero", role: RoleAuthority, edit: replace("lambda_p = 2.0", "lambda_p = 0.0"), want: "authority.parameters.lambda_p: want a rate per second from above 0 to 1000; got 0"},
		{name: "authority negative lambda", role: RoleAuthority, edit: replace("lambda_l = 0.5", "lambda_l = -1.0"), want: "authority.parameters.lambda_l"},
		{name: "authority replicas", role: RoleAuthority, edit: replace("replicas = 3", "replicas = 17"), want: "authority.parameters.replicas: want 1 to 16; got 17"},
		{name: "authority bootstrap past the epoch", role: RoleAuthority, edit: replace(`bootstrap = ""`, `bootstrap = "1h"`), want: "authority.bootstrap: want less than the epoch period (20m)"},
		{name: "authority without listen", role: RoleAuthority, edit: replace(`listen = "127.0.0.1:7000"`, `listen = ""`), want: "authority.listen: required"},
		{name: "authority with [network]", role: RoleAuthority, edit: func(s string) string {
			return replace("[directory]", "[network]\nhops = 5\n\n[directory]")(s)
		}, want: "network: an authority's network is [authority.parameters]; remove it"},
		{name: "authority with listen", role: RoleAuthority, edit: replace(`name =`, "listen = \"127.0.0.1:1\"\nname ="), want: "listen: an authority listens at authority.listen; remove it"},
		{name: "authority not listed", role: RoleAuthority, edit: func(s string) string {
			i := strings.Index(s, `key = "`) + len(`key = "`)
			pub, _, _ := ed25519.GenerateKey(rand.Reader)
			return s[:i] + EncodeKey(pub) + s[i+44:]
		}, want: "directory.authorities: this authority's own key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			services := tc.services
			if services == nil {
				services = []string{"echo"}
			}
			dir, path := setupServices(t, tc.role, tc.layer, services)
			if tc.edit != nil {
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(tc.edit(string(b))), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if tc.prep != nil {
				tc.prep(t, dir)
			}
			_, err := Load(path)
			if err == nil {
				t.Fatalf("loaded; want an error containing %q", tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error\n%v\nwant it to contain %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), path+": ") {
				t.Errorf("error %q does not start with the file's path", err)
			}
		})
	}
}

func TestEveryProblemReported(t *testing.T) {
	_, path := setup(t, RoleMix, 1)
	b, _ := os.ReadFile(path)
	s := strings.Replace(string(b), "layer = 1", "layer = 7", 1)
	s = strings.Replace(s, `log_level = "info"`, `log_level = "loud"`, 1)
	s = strings.Replace(s, `epoch_period = "20m"`, `epoch_period = "forever"`, 1)
	os.WriteFile(path, []byte(s), 0o600)
	_, err := Load(path)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not an *Error", err)
	}
	for _, field := range []string{"layer", "log_level", "network.epoch_period"} {
		if !ce.Has(field) {
			t.Errorf("no problem reported for %s in\n%v", field, err)
		}
	}
	if lines := strings.Count(err.Error(), "\n") + 1; lines != len(ce.Problems) {
		t.Errorf("%d lines for %d problems", lines, len(ce.Problems))
	}
}

func TestMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.toml")
	_, err := Load(path)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), path+": cannot read the configuration") {
		t.Fatalf("got %v", err)
	}
}

// TestLoadIdentityWithoutAuthorities: show works right after init, before
// the authorities are filled in; run does not.
func TestLoadIdentityWithoutAuthorities(t *testing.T) {
	_, path := setup(t, RoleGateway, 0)
	f, err := Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Directory.Authorities = nil
	if err := f.Write(path, true); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadIdentity(path); err != nil {
		t.Fatalf("LoadIdentity: %v", err)
	}
	if _, err := Load(path); err == nil {
		t.Fatal("Load accepted a node without authorities")
	}
}

// TestWriteNeverOverwrites: keys and configuration are not replaced
// without force, and are replaced with it.
func TestWriteNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	first, _ := GenerateIdentity()
	if err := WriteIdentity(dir, first, false); err != nil {
		t.Fatal(err)
	}
	second, _ := GenerateIdentity()
	if err := WriteIdentity(dir, second, false); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("second write without force: %v, want ErrKeyExists", err)
	}
	got, err := ReadIdentity(filepath.Join(dir, IdentityFile))
	if err != nil || !got.Equal(first) {
		t.Fatalf("the key changed without force (%v)", err)
	}
	if err := WriteIdentity(dir, second, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := ReadIdentity(filepath.Join(dir, IdentityFile)); !got.Equal(second) {
		t.Fatal("force did not replace the key")
	}
	fi, _ := os.Stat(filepath.Join(dir, IdentityFile))
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
	f := Defaults()
	path := filepath.Join(dir, "node.toml")
	if err := f.Write(path, false); err != nil {
		t.Fatal(err)
	}
	if err := f.Write(path, false); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second config write without force: %v", err)
	}
}

func TestKeyRoundTrip(t *testing.T) {
	dir := t.TempDir()
	lk, _ := link.GenerateKeyPair()
	if err := WriteLink(dir, lk, false); err != nil {
		t.Fatal(err)
	}
	got, err := ReadLink(filepath.Join(dir, LinkFile))
	if err != nil || got != lk {
		t.Fatalf("link key round trip: %v", err)
	}
	pub := make([]byte, 32)
	rand.Read(pub)
	if back, err := DecodeKey(EncodeKey(pub)); err != nil || !reflect.DeepEqual(back, pub) {
		t.Fatalf("public key round trip: %v", err)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		20 * time.Minute: "20m", 4 * time.Second: "4s", 50 * time.Millisecond: "50ms", time.Microsecond: "1us",
		0: "0s", 90 * time.Minute: "90m", 2 * time.Hour: "2h", 1500 * time.Millisecond: "1500ms", 1500: "1.5µs",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := time.ParseDuration(FormatDuration(d)); err != nil || back != d {
			t.Errorf("FormatDuration(%v) does not parse back: %v %v", d, back, err)
		}
	}
}
