package localnet

import (
	"fmt"
	"strconv"
	"strings"
)

// Sample is one series of a Prometheus text exposition.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Metrics are the samples of one scrape.
type Metrics []Sample

// Sum adds the samples called name whose labels include every pair of
// labels (name, value, name, value, ...).
func (m Metrics) Sum(name string, labels ...string) float64 {
	total := 0.0
	for _, s := range m {
		if s.Name == name && s.has(labels) {
			total += s.Value
		}
	}
	return total
}

// Has reports whether a series called name with the given labels exists.
func (m Metrics) Has(name string, labels ...string) bool {
	for _, s := range m {
		if s.Name == name && s.has(labels) {
			return true
		}
	}
	return false
}

func (s Sample) has(labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		if v, ok := s.Labels[labels[i]]; !ok || v != labels[i+1] {
			return false
		}
	}
	return true
}

// ParseMetrics reads the Prometheus text format (version 0.0.4): one
// sample a line, `name{label="value",...} value [timestamp]`; comments and
// blank lines are skipped. It is enough for tests to read a node's
// counters; it does not check HELP or TYPE lines.
func ParseMetrics(text string) (Metrics, error) {
	var m Metrics
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("localnet: metrics line %d: %w", i+1, err)
		}
		m = append(m, s)
	}
	return m, nil
}

func parseSample(line string) (Sample, error) {
	s := Sample{Labels: map[string]string{}}
	end := strings.IndexAny(line, "{ ")
	if end <= 0 {
		return s, fmt.Errorf("no value in %q", line)
	}
	s.Name, line = line[:end], line[end:]
	if line[0] == '{' {
		rest, err := parseLabels(line[1:], s.Labels)
		if err != nil {
			return s, err
		}
		line = rest
	}
	fields := strings.Fields(line)
	if len(fields) < 1 || len(fields) > 2 {
		return s, fmt.Errorf("want a value and an optional timestamp after %s", s.Name)
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return s, fmt.Errorf("value of %s: %w", s.Name, err)
	}
	s.Value = v
	return s, nil
}

// parseLabels reads `name="value",...}` and returns what follows.
func parseLabels(in string, into map[string]string) (string, error) {
	for {
		in = strings.TrimLeft(in, " ,")
		if strings.HasPrefix(in, "}") {
			return in[1:], nil
		}
		eq := strings.Index(in, "=\"")
		if eq <= 0 {
			return "", fmt.Errorf("bad label in %q", in)
		}
		name := in[:eq]
		in = in[eq+2:]
		var val strings.Builder
		for {
			if in == "" {
				return "", fmt.Errorf("unterminated value of label %s", name)
			}
			c := in[0]
			in = in[1:]
			if c == '"' {
				break
			}
			if c == '\\' && in != "" {
				switch in[0] {
				case 'n':
					c = '\n'
				default:
					c = in[0]
				}
				in = in[1:]
			}
			val.WriteByte(c)
		}
		into[name] = val.String()
	}
}
