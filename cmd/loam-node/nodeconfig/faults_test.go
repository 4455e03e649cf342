package nodeconfig

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"loam/onion"
)

func faultyMix() *File {
	f := Defaults()
	f.Role, f.Name, f.Layer, f.Listen = string(RoleMix), "m", 2, "127.0.0.1:7202"
	return f
}

// TestFaultsRefusedUnlessEnabled: a [faults] section that asks for
// anything without enabled = true is refused, as is one at an authority;
// an enabled one loads with its rule.
func TestFaultsRefusedUnlessEnabled(t *testing.T) {
	id := strings.Repeat("ab", onion.NodeIDLen)
	for _, tc := range []struct {
		name, text, field string
	}{
		{"loss without enabled", "[faults]\nloss = 0.1\n", "faults"},
		{"control without enabled", "[faults]\ncontrol = \"rules.toml\"\n", "faults"},
		{"to without enabled", "[faults]\nto = [\"" + id + "\"]\n", "faults"},
		{"loss above 1", "[faults]\nenabled = true\nloss = 1.5\n", "faults.loss"},
		{"negative delay", "[faults]\nenabled = true\ndelay = \"-1s\"\n", "faults.delay"},
		{"delay too long", "[faults]\nenabled = true\ndelay = \"6s\"\n", "faults.delay"},
		{"bad jitter", "[faults]\nenabled = true\njitter = \"soon\"\n", "faults.jitter"},
		{"short id", "[faults]\nenabled = true\nto = [\"abcd\"]\n", "faults.to[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := "role = \"mix\"\nname = \"m\"\nlayer = 2\nlisten = \"127.0.0.1:7202\"\n" + tc.text
			f, err := Decode("node.toml", []byte(text))
			if err != nil {
				t.Fatal(err)
			}
			err = f.Validate("node.toml")
			var ce *Error
			if !errors.As(err, &ce) || !ce.Has(tc.field) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want a problem with %s", err, tc.field)
			}
		})
	}
	t.Run("authority", func(t *testing.T) {
		text := "role = \"authority\"\nname = \"a\"\n[authority]\nlisten = \"127.0.0.1:7000\"\n[faults]\nenabled = false\n"
		f, err := Decode("node.toml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		var ce *Error
		if err := f.Validate("node.toml"); !errors.As(err, &ce) || !ce.Has("faults") {
			t.Fatalf("got %v, want a problem with faults", err)
		}
	})
	t.Run("enabled", func(t *testing.T) {
		f := faultyMix()
		f.Faults = FaultsSection{Enabled: true, Control: "rules.toml", Loss: 0.25, Delay: "100ms", Jitter: "50ms", To: []string{id}}
		c, err := f.check("/srv/m/node.toml", checkOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := Faults{Enabled: true, Control: "/srv/m/rules.toml", Rule: FaultRule{To: []onion.NodeID{onion.NodeID([]byte(strings.Repeat("\xab", onion.NodeIDLen)))},
			Loss: 0.25, Delay: 100 * time.Millisecond, Jitter: 50 * time.Millisecond}}
		if !reflect.DeepEqual(c.Faults, want) {
			t.Fatalf("got %+v, want %+v", c.Faults, want)
		}
	})
	t.Run("off", func(t *testing.T) {
		c, err := faultyMix().check("node.toml", checkOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if c.Faults.Enabled || !c.Faults.Rule.Zero() {
			t.Fatalf("faults %+v in a file without [faults]", c.Faults)
		}
		if strings.Contains(string(faultyMix().Render()), "[faults]") {
			t.Fatal("a file without faults renders a [faults] section")
		}
	})
}

// TestFaultsRenderRoundTrip: an enabled [faults] section renders, with
// every key documented, and decodes to the same values.
func TestFaultsRenderRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		f := faultyMix()
		f.Faults = FaultsSection{
			Enabled: true,
			Control: rapid.SampledFrom([]string{"", "faults.toml", "/run/loam/rules.toml"}).Draw(t, "control"),
			Loss:    rapid.Float64Range(0, 1).Draw(t, "loss"),
			Delay:   FormatDuration(time.Duration(rapid.IntRange(0, 5000).Draw(t, "delay")) * time.Millisecond),
			Jitter:  FormatDuration(time.Duration(rapid.IntRange(0, 5000).Draw(t, "jitter")) * time.Millisecond),
			Reorder: rapid.Float64Range(0, 1).Draw(t, "reorder"),
			Hold:    FormatDuration(time.Duration(rapid.IntRange(1, 5000).Draw(t, "hold")) * time.Millisecond),
		}
		for i := range rapid.IntRange(0, 3).Draw(t, "to") {
			b := make([]byte, onion.NodeIDLen)
			b[0] = byte(i)
			f.Faults.To = append(f.Faults.To, onion.NodeID(b).String())
		}
		if err := f.Validate("gen.toml"); err != nil {
			t.Fatal(err)
		}
		text := f.Render()
		back, err := Decode("gen.toml", text)
		if err != nil {
			t.Fatalf("%v\n%s", err, text)
		}
		back.present = nil
		if !reflect.DeepEqual(f, back) {
			t.Fatalf("round trip changed the file:\n%+v\n%+v\n%s", f.Faults, back.Faults, text)
		}
	})
}

// TestFaultControl: a control file decodes to its rules, encodes back to
// the same, and a bad one names every problem.
func TestFaultControl(t *testing.T) {
	a, b := onion.NodeID{1}, onion.NodeID{2}
	c := &FaultControl{Version: 7, Rules: []FaultRule{
		{To: []onion.NodeID{a, b}, Loss: 0.05, Delay: 100 * time.Millisecond, Jitter: 30 * time.Millisecond},
		{Reorder: 0.25, Hold: 300 * time.Millisecond},
		{Loss: 1},
	}}
	back, err := DecodeFaultControl("rules.toml", EncodeFaultControl(c))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("got %+v, want %+v", back, c)
	}
	_, err = DecodeFaultControl("rules.toml", []byte("version = -1\nspeed = 3\n[[rules]]\nloss = 2.0\ndelay = \"1h\"\nto = [\"zz\"]\n[[rules]]\nreorder = 0.5\n"))
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("got %v", err)
	}
	for _, field := range []string{"version", "speed", "rules[0].loss", "rules[0].delay", "rules[0].to[0]", "rules[1].reorder_hold"} {
		if !ce.Has(field) {
			t.Errorf("no problem with %s in:\n%v", field, err)
		}
	}
	if got, err := DecodeFaultControl("rules.toml", nil); err != nil || got.Version != 0 || len(got.Rules) != 0 {
		t.Fatalf("empty file: %+v, %v", got, err)
	}
}

// FuzzDecodeFaultControl: no control file makes the decoder panic, and
// what it accepts encodes to a file that decodes to the same.
func FuzzDecodeFaultControl(f *testing.F) {
	f.Add(EncodeFaultControl(&FaultControl{Version: 1, Rules: []FaultRule{{Loss: 0.5, To: []onion.NodeID{{9}}}}}))
	f.Add([]byte("version = 2\n[[rules]]\ndelay = \"5s\"\njitter = \"1ms\"\n"))
	f.Add([]byte("[[rules]]\nloss = nan\n"))
	f.Add([]byte("[[rules]]\nreorder = 0.3\nreorder_hold = \"250ms\"\n"))
	f.Add([]byte("rules = 3"))
	f.Add([]byte("\x00[[["))
	f.Fuzz(func(t *testing.T, text []byte) {
		c, err := DecodeFaultControl("fuzz.toml", text)
		if err != nil {
			return
		}
		back, err := DecodeFaultControl("fuzz.toml", EncodeFaultControl(c))
		if err != nil {
			t.Fatalf("an accepted file re-encodes to one refused: %v", err)
		}
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("round trip changed the rules: %+v, %+v", c, back)
		}
	})
}
