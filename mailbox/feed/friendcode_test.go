package feed

import (
	"errors"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func TestFriendCodeRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var p Public
		copy(p.Sign[:], rapid.SliceOfN(rapid.Byte(), keyLen, keyLen).Draw(t, "sign"))
		copy(p.DH[:], rapid.SliceOfN(rapid.Byte(), keyLen, keyLen).Draw(t, "dh"))
		p.Name = rapid.StringMatching(`[A-Za-z0-9éü ]{0,12}[A-Za-zé]`).Filter(func(s string) bool {
			return len(s) <= MaxNameLen && s[0] != ' '
		}).Draw(t, "name")
		code := p.FriendCode()
		for _, c := range code {
			if !strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", c) {
				t.Fatalf("code %q holds %q, outside QR alphanumeric upper case", code, c)
			}
		}
		got, err := ParseFriendCode(code)
		if err != nil {
			t.Fatalf("parse %q: %v", code, err)
		}
		if got != p {
			t.Fatalf("round trip: %+v, want %+v", got, p)
		}
	})
}

func TestFriendCodeFormat(t *testing.T) {
	p := fixedIdentity(t, 7, "Alice").Public()
	code := p.FriendCode()
	if !strings.HasPrefix(code, "LOAM1-") {
		t.Fatalf("code %q does not start with LOAM1-", code)
	}
	groups := strings.Split(code, "-")[1:]
	for i, g := range groups {
		if len(g) != groupLen && i != len(groups)-1 {
			t.Fatalf("group %d of %q is %q", i, code, g)
		}
	}
	// Checksum, groups and version: a Bech32m string with 66 + 5 bytes of
	// data is ⌈71·8/5⌉ = 114 values and 6 check values.
	if n := len(strings.ReplaceAll(code, "-", "")); n != len("LOAM1")+114+6 {
		t.Fatalf("code of %d characters", n)
	}
}

func TestFriendCodeTolerant(t *testing.T) {
	p := fixedIdentity(t, 7, "Alice").Public()
	code := p.FriendCode()
	for _, variant := range []string{
		strings.ToLower(code),
		strings.ReplaceAll(code, "-", ""),
		strings.ReplaceAll(code, "-", " "),
		"  " + strings.ReplaceAll(code, "-", "\n") + "\n",
		strings.ReplaceAll(code, "-", "_"),
		mixCase(code),
	} {
		got, err := ParseFriendCode(variant)
		if err != nil || got != p {
			t.Fatalf("variant %q: %v, %+v", variant, err, got)
		}
	}
}

func mixCase(s string) string {
	var b strings.Builder
	for i, c := range s {
		if i%2 == 0 {
			b.WriteString(strings.ToLower(string(c)))
		} else {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// TestFriendCodeTypos changes a code in every single character, to every
// character a person might type instead, and swaps every pair of
// neighbours: each change is rejected, or (for a change that touches only
// separators or case) gives the very same keys.
func TestFriendCodeTypos(t *testing.T) {
	codes := []Public{fixedIdentity(t, 7, "Alice").Public(), fixedIdentity(t, 9, "Bob Ølsen-Ñ").Public()}
	for range 3 {
		codes = append(codes, newIdentity(t, "Carol").Public())
	}
	// Every character a QR alphanumeric code or a keyboard slip gives.
	subst := "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz -_$%*+./:"
	for _, p := range codes {
		code := p.FriendCode()
		checked := 0
		check := func(variant, what string) {
			checked++
			got, err := ParseFriendCode(variant)
			if err == nil && got != p {
				t.Fatalf("%s: %q parses as other keys %+v", what, variant, got)
			}
			if err != nil && !errors.Is(err, ErrFriendCode) {
				t.Fatalf("%s: %q: error %v is not ErrFriendCode", what, variant, err)
			}
			if err == nil && normalise(variant) != normalise(code) {
				t.Fatalf("%s: %q accepted though its letters differ", what, variant)
			}
		}
		for i := range len(code) {
			for _, c := range []byte(subst) {
				if c == code[i] {
					continue
				}
				check(code[:i]+string(c)+code[i+1:], "substitution")
			}
		}
		for i := 0; i+1 < len(code); i++ {
			if code[i] == code[i+1] {
				continue
			}
			b := []byte(code)
			b[i], b[i+1] = b[i+1], b[i]
			check(string(b), "transposition")
		}
		// Dropping or doubling one character changes the length.
		for i := range len(code) {
			if code[i] != '-' {
				check(code[:i]+code[i+1:], "deletion")
				check(code[:i]+code[i:i+1]+code[i:], "insertion")
			}
		}
		if checked < 60*len(code) {
			t.Fatalf("only %d variants checked", checked)
		}
	}
}

// normalise is what ParseFriendCode reads: letters and digits, upper case.
func normalise(s string) string {
	s = strings.ToUpper(s)
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune("- _\t\r\n", r) {
			return -1
		}
		return r
	}, s)
}

func TestFriendCodeRejects(t *testing.T) {
	p := fixedIdentity(t, 7, "Alice").Public()
	code := p.FriendCode()
	other := p
	other.Name = "Bob"
	for name, s := range map[string]string{
		"empty":       "",
		"prefix only": "LOAM1",
		"wrong hrp":   strings.Replace(code, "LOAM1", "LOAN1", 1),
		"truncated":   code[:len(code)-7],
		"non-ascii":   code + "é",
		"too long":    strings.Repeat(code, 10),
		"spliced":     code[:40] + other.FriendCode()[40:],
	} {
		if _, err := ParseFriendCode(s); !errors.Is(err, ErrFriendCode) {
			t.Errorf("%s: %q gave %v, want ErrFriendCode", name, s, err)
		}
	}
	// A well-formed Bech32m string whose data is not a version-1 code.
	for _, raw := range [][]byte{
		{2, 5},
		append([]byte{1, 0}, make([]byte, 64)...),                      // empty name
		append(append([]byte{1, 3}, make([]byte, 64)...), "a\x00b"...), // control character
		append(append([]byte{1, 4}, make([]byte, 64)...), "abc"...),    // length mismatch
	} {
		data := toBase32(raw)
		s := "LOAM1" + encodeValues(append(data, bech32Checksum(friendCodePrefix, data)...))
		if _, err := ParseFriendCode(s); !errors.Is(err, ErrFriendCode) {
			t.Errorf("data %x gave %v, want ErrFriendCode", raw, err)
		}
	}
}

func encodeValues(v []byte) string {
	var b strings.Builder
	for _, x := range v {
		b.WriteByte(bech32Alphabet[x])
	}
	return b.String()
}

// TestBech32mKnownAnswer checks the checksum against BIP 350's valid test
// strings, so the code is Bech32m and not merely self-consistent.
func TestBech32mKnownAnswer(t *testing.T) {
	for _, s := range []string{
		"A1LQFN3A",
		"abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
		"split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
		"?1v759aa",
	} {
		i := strings.LastIndexByte(s, '1')
		hrp, data := strings.ToLower(s[:i]), strings.ToUpper(s[i+1:])
		v := make([]byte, len(data))
		for j := range data {
			v[j] = byte(strings.IndexByte(bech32Alphabet, data[j]))
		}
		if bech32Polymod(hrp, v) != bech32mConst {
			t.Errorf("%s: checksum does not verify", s)
		}
		if got := bech32Checksum(hrp, v[:len(v)-checksumLen]); string(got) != string(v[len(v)-checksumLen:]) {
			t.Errorf("%s: checksum %v, want %v", s, got, v[len(v)-checksumLen:])
		}
	}
}

func TestBase32RoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b := rapid.SliceOf(rapid.Byte()).Draw(t, "bytes")
		got, ok := fromBase32(toBase32(b))
		if !ok || string(got) != string(b) {
			t.Fatalf("%x → %x (%v)", b, got, ok)
		}
	})
}
