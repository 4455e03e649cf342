package feed

import (
	"fmt"
	"strings"
)

// Friend codes (SPEC.md §9.3): a Bech32m string (BIP 350) with the
// human-readable part "loam", written in upper case and cut into groups of
// five by '-', so a QR code can hold it in alphanumeric mode and a person
// can read it aloud. Its data is
//
//	0x01 ‖ u8(len(name)) ‖ sign (32) ‖ dh (32) ‖ name
//
// The checksum is a polynomial code over GF(32) of degree 6: it detects
// every error confined to six consecutive characters — so every changed
// character and every swap of neighbours — at any length, and any other
// error but for a chance of about 2⁻³⁰. The name's length comes second, so
// a dropped or doubled character anywhere after it is caught by the
// length check alone.

const (
	bech32Alphabet = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L" // Bech32's, upper case
	bech32mConst   = 0x2bc830a3
	checksumLen    = 6
	groupLen       = 5
	// maxFriendCodeInput bounds what ParseFriendCode looks at; a real code
	// is under 210 characters.
	maxFriendCodeInput = 1024
)

// FriendCode encodes p as a friend code.
func (p Public) FriendCode() string {
	data := toBase32(appendPublic(nil, p))
	data = append(data, bech32Checksum(friendCodePrefix, data)...)
	var b strings.Builder
	b.WriteString(strings.ToUpper(friendCodePrefix) + "1")
	for i, v := range data {
		if i%groupLen == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(bech32Alphabet[v])
	}
	return b.String()
}

// appendPublic appends a friend code's data bytes.
func appendPublic(b []byte, p Public) []byte {
	b = append(b, versionFriendCode, byte(len(p.Name)))
	b = append(b, p.Sign[:]...)
	b = append(b, p.DH[:]...)
	return append(b, p.Name...)
}

// ParseFriendCode decodes a friend code. It ignores case, spaces, line
// breaks, '-' and '_', and rejects any code whose checksum or length does
// not hold: a mistyped code is an error, never someone else's keys.
func ParseFriendCode(s string) (Public, error) {
	if len(s) > maxFriendCodeInput {
		return Public{}, fmt.Errorf("%w: too long", ErrFriendCode)
	}
	var norm []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-' || c == '_' || c == ' ' || c == '\t' || c == '\n' || c == '\r':
			continue
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case c >= 0x80:
			return Public{}, fmt.Errorf("%w: it holds a character that is not a letter or digit", ErrFriendCode)
		}
		norm = append(norm, c)
	}
	prefix := strings.ToUpper(friendCodePrefix) + "1"
	if !strings.HasPrefix(string(norm), prefix) {
		return Public{}, fmt.Errorf("%w: it does not start with %s", ErrFriendCode, prefix)
	}
	rest := norm[len(prefix):]
	data := make([]byte, len(rest))
	for i, c := range rest {
		v := strings.IndexByte(bech32Alphabet, c)
		if v < 0 {
			return Public{}, fmt.Errorf("%w: %q cannot appear in a code", ErrFriendCode, c)
		}
		data[i] = byte(v)
	}
	if len(data) < checksumLen || bech32Polymod(friendCodePrefix, data) != bech32mConst {
		return Public{}, fmt.Errorf("%w: the checksum does not match", ErrFriendCode)
	}
	raw, ok := fromBase32(data[:len(data)-checksumLen])
	if !ok {
		return Public{}, fmt.Errorf("%w: the length is wrong", ErrFriendCode)
	}
	return decodePublic(raw)
}

// decodePublic decodes a friend code's data bytes, which must be exactly
// one encoding.
func decodePublic(raw []byte) (Public, error) {
	var p Public
	if len(raw) < 2 || raw[0] != versionFriendCode {
		return p, fmt.Errorf("%w: not a version %d code", ErrFriendCode, versionFriendCode)
	}
	n := int(raw[1])
	if len(raw) != 2+2*keyLen+n {
		return p, fmt.Errorf("%w: the length is wrong", ErrFriendCode)
	}
	copy(p.Sign[:], raw[2:])
	copy(p.DH[:], raw[2+keyLen:])
	p.Name = string(raw[2+2*keyLen:])
	if err := validName(p.Name); err != nil {
		return Public{}, fmt.Errorf("%w: %w", ErrFriendCode, err)
	}
	return p, nil
}

// toBase32 regroups bytes into 5-bit values, most significant bit first,
// the last one padded with zero bits.
func toBase32(b []byte) []byte {
	out := make([]byte, 0, (len(b)*8+4)/5)
	acc, bits := 0, 0
	for _, x := range b {
		acc = acc<<8 | int(x)
		bits += 8
		for bits >= 5 {
			bits -= 5
			out = append(out, byte(acc>>bits)&31)
		}
		acc &= 1<<bits - 1
	}
	if bits > 0 {
		out = append(out, byte(acc<<(5-bits))&31)
	}
	return out
}

// fromBase32 undoes toBase32; padding of five bits or more, or padding
// bits that are not zero, mean a wrong length.
func fromBase32(v []byte) ([]byte, bool) {
	out := make([]byte, 0, len(v)*5/8)
	acc, bits := 0, 0
	for _, x := range v {
		acc = acc<<5 | int(x)
		bits += 5
		if bits >= 8 {
			bits -= 8
			out = append(out, byte(acc>>bits))
		}
		acc &= 1<<bits - 1
	}
	return out, bits < 5 && acc == 0
}

var bech32Gen = [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}

// bech32Polymod is BIP 173's checksum polynomial over the expanded
// human-readable part and the data values.
func bech32Polymod(hrp string, data []byte) uint32 {
	chk := uint32(1)
	step := func(v byte) {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i, g := range bech32Gen {
			if top>>i&1 == 1 {
				chk ^= g
			}
		}
	}
	for i := 0; i < len(hrp); i++ {
		step(hrp[i] >> 5)
	}
	step(0)
	for i := 0; i < len(hrp); i++ {
		step(hrp[i] & 31)
	}
	for _, v := range data {
		step(v)
	}
	return chk
}

// bech32Checksum returns the six check values Bech32m appends to data.
func bech32Checksum(hrp string, data []byte) []byte {
	pm := bech32Polymod(hrp, append(append([]byte(nil), data...), make([]byte, checksumLen)...)) ^ bech32mConst
	out := make([]byte, checksumLen)
	for i := range out {
		out[i] = byte(pm>>(5*(5-i))) & 31
	}
	return out
}
