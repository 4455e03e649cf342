package localnet

import "testing"

func TestParseMetrics(t *testing.T) {
	m, err := ParseMetrics(`# HELP loam_drops_total Packets or frames dropped, by reason.
# TYPE loam_drops_total counter
loam_drops_total{reason="mac"} 0
loam_drops_total{reason="replay"} 3
loam_links_open{direction="out",kind="node"} 2
loam_links_open{direction="in",kind="node"} 1
loam_links_open{direction="in",kind="client"} 1
odd_label{v="a \"quoted\" \\ value,}"} 1.5e3 1700000000000
go_goroutines 12

`)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"loam_drops_total", []string{"reason", "replay"}, 3},
		{"loam_drops_total", nil, 3},
		{"loam_links_open", []string{"direction", "out"}, 2},
		{"loam_links_open", []string{"direction", "in"}, 2},
		{"loam_links_open", []string{"direction", "in", "kind", "client"}, 1},
		{"odd_label", []string{"v", `a "quoted" \ value,}`}, 1500},
		{"go_goroutines", nil, 12},
		{"absent", nil, 0},
	} {
		if got := m.Sum(c.name, c.labels...); got != c.want {
			t.Errorf("Sum(%s, %v) = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if !m.Has("loam_drops_total", "reason", "mac") || m.Has("loam_drops_total", "reason", "overload") {
		t.Error("Has disagrees with the exposition")
	}
	for _, bad := range []string{"name_only", `x{a="1"`, `x{a=1} 2`, "x notanumber", "x 1 2 3"} {
		if _, err := ParseMetrics(bad); err == nil {
			t.Errorf("ParseMetrics(%q) accepted it", bad)
		}
	}
}

// FuzzParseMetrics: no exposition makes the parser panic.
func FuzzParseMetrics(f *testing.F) {
	f.Add("loam_drops_total{reason=\"mac\"} 0\n# HELP x y\ngo_goroutines 12\n")
	f.Add(`x{a="\"",b="\\"} 1 2`)
	f.Add("x{")
	f.Add(`x{a="`)
	f.Fuzz(func(t *testing.T, text string) {
		ParseMetrics(text)
	})
}
