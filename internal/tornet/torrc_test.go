package tornet

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// fakeNetwork lays out a network's nodes with made-up keys and ports, as
// generate would, without running tor.
func fakeNetwork() *Network {
	n := &Network{Dir: "/tmp/tornet-test"}
	port := 30000
	next := func() int { port++; return port }
	for i := range Authorities {
		n.Nodes = append(n.Nodes, &Node{Name: fmt.Sprintf("auth%d", i), Role: RoleAuthority,
			ORPort: next(), DirPort: next(),
			V3Ident: strings.Repeat(fmt.Sprint(i+1), 40), Fingerprint: strings.Repeat(fmt.Sprint(i+4), 40)})
	}
	for i := range 2 {
		n.Nodes = append(n.Nodes, &Node{Name: fmt.Sprintf("relay%d", i), Role: RoleRelay, ORPort: next(),
			Fingerprint: strings.Repeat("A", 39) + fmt.Sprint(i), Exit: i == 0})
	}
	n.Nodes = append(n.Nodes, &Node{Name: "client", Role: RoleClient, SocksPort: next()})
	for _, node := range n.Nodes {
		node.Dir = n.Dir + "/" + node.Name
	}
	return n
}

var ipv4 = regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b`)

// TestTorrcsArePrivate: every torrc the generator writes, and the lines it
// hands to Loam tors, confine tor to the private network: testing mode, the
// private authorities only, no fallback directories, nothing but 127.0.0.1
// (and the one exit's 127.0.0.0/8).
func TestTorrcsArePrivate(t *testing.T) {
	n := fakeNetwork()
	auths := n.authorities()
	configs := map[string][]string{"ClientTorrc": n.ClientTorrc()}
	for _, node := range n.Nodes {
		configs[node.Name] = node.torrc(auths)
		if node.Role != RoleClient {
			configs[node.Name+" (fingerprint)"] = node.fingerprintTorrc()
		}
	}
	for name, lines := range configs {
		if err := CheckPrivate(lines); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		for _, must := range []string{"TestingTorNetwork 1", "UseDefaultFallbackDirs 0"} {
			if !slices.Contains(lines, must) {
				t.Errorf("%s lacks %q", name, must)
			}
		}
		for _, l := range lines {
			for _, ip := range ipv4.FindAllString(l, -1) {
				if ip != "127.0.0.1" && l != "ExitPolicy accept 127.0.0.0/8:*" {
					t.Errorf("%s: line %q names %s", name, l, ip)
				}
			}
			key, _, _ := strings.Cut(l, " ")
			if slices.Contains([]string{"FallbackDir", "Bridge", "UseBridges", "AlternateDirAuthority"}, key) {
				t.Errorf("%s: line %q", name, l)
			}
		}
		if strings.HasSuffix(name, "(fingerprint)") {
			if !slices.Contains(lines, "DisableNetwork 1") {
				t.Errorf("%s: the key-making run must have DisableNetwork 1", name)
			}
			continue
		}
		for _, a := range auths {
			if !slices.Contains(lines, dirAuthorityLine(a)) {
				t.Errorf("%s lacks authority %s", name, a.Name)
			}
		}
	}
	want := fmt.Sprintf("DirAuthority auth0 orport=30001 no-v2 v3ident=%s 127.0.0.1:30002 %s",
		strings.Repeat("1", 40), strings.Repeat("4", 40))
	if got := dirAuthorityLine(auths[0]); got != want {
		t.Errorf("DirAuthority line\n%s\nwant\n%s", got, want)
	}
	if !slices.Contains(configs["auth1"], "AuthoritativeDirectory 1") || slices.Contains(configs["relay0"], "AuthoritativeDirectory 1") {
		t.Error("authority lines on the wrong nodes")
	}
	if !slices.Contains(configs["client"], fmt.Sprintf("SocksPort 127.0.0.1:%d", n.client().SocksPort)) {
		t.Error("the client has no SOCKS port on 127.0.0.1")
	}
	exits := func(lines []string) bool { return slices.Contains(lines, "ExitRelay 1") }
	if !exits(configs["relay0"]) || !slices.Contains(configs["relay0"], "ExitPolicy accept 127.0.0.0/8:*") ||
		exits(configs["relay1"]) || exits(configs["auth0"]) {
		t.Error("relay0, and only relay0, should exit, to 127.0.0.0/8")
	}
}

func TestCheckPrivateRejects(t *testing.T) {
	auth := "DirAuthority a orport=1 no-v2 v3ident=AA 127.0.0.1:7000 AA"
	for name, lines := range map[string][]string{
		"empty":             nil,
		"no testing":        {"UseDefaultFallbackDirs 0", auth},
		"testing off":       {"TestingTorNetwork 0", "UseDefaultFallbackDirs 0", auth},
		"fallbacks on":      {"TestingTorNetwork 1", auth},
		"no authority":      {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0"},
		"public authority":  {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", "DirAuthority moria1 orport=9201 no-v2 v3ident=AA 128.31.0.39:9231 AA"},
		"ipv6 authority":    {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", "DirAuthority a orport=1 ipv6=[2001:db8::1]:9 v3ident=AA 127.0.0.1:7000 AA"},
		"authority no addr": {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", "DirAuthority a orport=1"},
		"fallback dir":      {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "FallbackDir 1.2.3.4:80 orport=443 id=AA"},
		"bridges":           {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "UseBridges 1"},
		"alternate":         {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "alternatedirauthority x 1.2.3.4:80 AA"},
		"proxy":             {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "Socks5Proxy 1.2.3.4:1080"},
		"exit anywhere":     {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "ExitPolicy accept *:*"},
		"exit private":      {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "ExitPolicy accept private:*"},
		"exit lan":          {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "ExitPolicy accept 127.0.0.1:*, accept 10.0.0.0/8:*"},
		"exit wide":         {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "ExitPolicy accept 0.0.0.0/0:443"},
		"exit ipv6":         {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "ExitPolicy accept6 [::1]:*"},
		"exit by tab":       {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "ExitPolicy\taccept *:*"},
		"exit tab in rule":  {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "ExitPolicy accept\t*:*"},
		"exit appended":     {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "+ExitPolicy accept *:*"},
		"exit no reject":    {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "ExitPolicy accept 127.0.0.1:*"},
		"exit relay only":   {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "ExitRelay 1"},
		"reduced exit":      {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "ReducedExitPolicy 1", "ExitPolicy reject *:*"},
		"ipv6 exit":         {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "IPv6Exit 1"},
		"exit any4":         {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "ExitPolicy accept *4:*, reject *:*"},
		"exit odd action":   {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "ExitPolicy allow *:*, reject *:*"},
		"fallback by tab":   {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "FallbackDir\t1.2.3.4:80 orport=443 id=AA"},
		"proxy appended":    {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "+Socks5Proxy 1.2.3.4:1080"},
		"include":           {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "%include /etc/tor/torrc.d"},
		"continued":         {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "ExitPolicy reject 1.2.3.4:* \\", "accept *:*"},
		"old authority":     {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "DirServer moria1 orport=9201 v3ident=AA 128.31.0.39:9231 AA"},
		"short fallback":    {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "FallbackDi 1.2.3.4:80 orport=443 id=AA"},
		"short proxy":       {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "Socks5Prox 1.2.3.4:1080"},
		"short bridges":     {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "UseBridge 1", "Bridg 1.2.3.4:443"},
		"short alternate":   {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "AlternateDirAuth x 1.2.3.4:80 AA"},
		"short authority":   {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "DirAuth evil v3ident=BB 128.31.0.39:9131 BB"},
		"short reduced":     {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "ReducedExitPolic 1", "ExitPolicy reject *:*"},
		"short exit policy": {"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth, "ExitRelay 1", "ExitPolic accept *:*", "ExitPolicy reject *:*"},
	} {
		if err := CheckPrivate(lines); !errors.Is(err, ErrNotPrivate) {
			t.Errorf("%s: err %v, want ErrNotPrivate", name, err)
		}
	}
	if err := CheckPrivate([]string{"# comment", "", "testingtornetwork 1", "UseDefaultFallbackDirs 0", auth}); err != nil {
		t.Errorf("a private torrc was refused: %v", err)
	}
	if err := CheckPrivate([]string{"TestingTorNetwork 1", "UseDefaultFallbackDirs 0", auth,
		"ExitRelay 1", "ExitPolicy accept 127.0.0.0/8:*", "ExitPolicy accept 127.0.0.1:80, reject *:*", "ExitPolicy reject *:*"}); err != nil {
		t.Errorf("an exit to loopback was refused: %v", err)
	}
}

func FuzzCheckPrivate(f *testing.F) {
	f.Add("TestingTorNetwork 1\nUseDefaultFallbackDirs 0\nDirAuthority a orport=1 no-v2 v3ident=AA 127.0.0.1:7000 AA")
	f.Add("DirAuthority 127.0.0.1:\nFallbackDir")
	f.Add("TestingTorNetwork 1\nUseDefaultFallbackDirs 0\nDirAuthority [::1]:80 x")
	f.Add("TestingTorNetwork 1\nUseDefaultFallbackDirs 0\nDirAuthority a 127.0.0.1:7000 AA\nExitRelay 1\nExitPolicy accept 127.0.0.0/8:*, reject *:*")
	f.Add("TestingTorNetwork 1\nUseDefaultFallbackDirs 0\nDirAuthority a 127.0.0.1:7000 AA\n+ExitPolicy\taccept *:*")
	f.Add("TestingTorNetwork 1\nUseDefaultFallbackDirs 0\nDirAuthority a 127.0.0.1:7000 AA\nExitPolic accept *:*\nSocks5Prox 1.2.3.4:1")
	f.Fuzz(func(t *testing.T, torrc string) {
		lines := strings.Split(torrc, "\n")
		if err := CheckPrivate(lines); err != nil {
			if !errors.Is(err, ErrNotPrivate) {
				t.Fatalf("error %v is not ErrNotPrivate", err)
			}
			return
		}
		// Accepted: every authority address must be 127.0.0.1, and no
		// exit rule may accept a target outside 127.0.0.0/8.
		for _, l := range lines {
			fields := strings.Fields(l)
			if len(fields) == 0 {
				continue
			}
			key, value := strings.TrimLeft(fields[0], "+/"), strings.Join(fields[1:], " ")
			if strings.EqualFold(key, "ExitPolicy") {
				for _, rule := range strings.Split(value, ",") {
					rf := strings.Fields(rule)
					if len(rf) == 2 && strings.HasPrefix(strings.ToLower(rf[0]), "accept") && !strings.HasPrefix(rf[1], "127.") {
						t.Fatalf("accepted an exit rule %q", rule)
					}
				}
			}
			if !strings.EqualFold(key, "DirAuthority") {
				continue
			}
			for _, f := range strings.Fields(value) {
				if host, _, err := net.SplitHostPort(f); err == nil && !strings.Contains(f, "=") && host != loopback {
					t.Fatalf("accepted an authority at %s: %q", host, l)
				}
			}
		}
	})
}

func TestFreePorts(t *testing.T) {
	ports, err := freePorts(20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p < portLow || p >= portHigh || seen[p] {
			t.Fatalf("port %d: out of range or repeated in %v", p, ports)
		}
		seen[p] = true
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("port %d was given out but cannot be bound: %v", p, err)
		}
		ln.Close()
	}
}

func TestCertFingerprint(t *testing.T) {
	fp := strings.Repeat("AB", 20)
	got, err := certFingerprint([]byte("dir-key-certificate-version 3\nfingerprint " + fp + "\ndir-key-published 2026-01-01 00:00:00\n"))
	if err != nil || got != fp {
		t.Fatalf("certFingerprint = %q, %v; want %q", got, err, fp)
	}
	for _, bad := range []string{"", "fingerprint xyz\n", "fingerprint " + strings.Repeat("ab", 20) + "\n"} {
		if _, err := certFingerprint([]byte(bad)); err == nil {
			t.Errorf("certFingerprint(%q) accepted it", bad)
		}
	}
}
