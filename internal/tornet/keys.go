package tornet

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// gencertPassphrase encrypts the authorities' v3 identity keys. tor itself
// reads only the signing key and certificate, so it is never needed again;
// tor-gencert merely insists on one.
const gencertPassphrase = "loam-tornet\n"

// makeAuthorityKeys creates an authority's v3 identity key, signing key and
// certificate with tor-gencert and records the identity's fingerprint
// (the v3ident of its DirAuthority line).
func makeAuthorityKeys(gencert string, n *Node) error {
	keys := filepath.Join(n.Dir, "keys")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		return fmt.Errorf("tornet: %w", err)
	}
	cert := filepath.Join(keys, "authority_certificate")
	cmd := exec.Command(gencert, "--create-identity-key", "-m", "12",
		"-a", fmt.Sprintf("%s:%d", loopback, n.DirPort),
		"-i", filepath.Join(keys, "authority_identity_key"),
		"-s", filepath.Join(keys, "authority_signing_key"),
		"-c", cert, "--passphrase-fd", "0")
	cmd.Stdin = strings.NewReader(gencertPassphrase)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("tornet: tor-gencert for %s: %w: %s", n.Name, err, bytes.TrimSpace(out))
	}
	b, err := os.ReadFile(cert)
	if err != nil {
		return fmt.Errorf("tornet: %w", err)
	}
	fp, err := certFingerprint(b)
	if err != nil {
		return fmt.Errorf("tornet: %s: %w", cert, err)
	}
	n.V3Ident = fp
	return nil
}

// certFingerprint finds the "fingerprint HEX" line of an authority
// certificate.
func certFingerprint(cert []byte) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(cert))
	for sc.Scan() {
		if fp, ok := strings.CutPrefix(sc.Text(), "fingerprint "); ok {
			fp = strings.TrimSpace(fp)
			if !isFingerprint(fp) {
				return "", fmt.Errorf("malformed fingerprint %q", fp)
			}
			return fp, nil
		}
	}
	return "", fmt.Errorf("no fingerprint line")
}

// makeIdentity has tor create the node's relay identity keys and reads back
// the RSA identity fingerprint (the last field of a DirAuthority line).
func makeIdentity(torPath string, n *Node) error {
	torrc := filepath.Join(n.Dir, "fingerprint.torrc")
	if err := writeTorrc(torrc, n.fingerprintTorrc()); err != nil {
		return err
	}
	cmd := exec.Command(torPath, "--list-fingerprint", "--hush", "-f", torrc)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("tornet: tor --list-fingerprint for %s: %w: %s", n.Name, err, bytes.TrimSpace(out))
	}
	b, err := os.ReadFile(filepath.Join(n.Dir, "fingerprint"))
	if err != nil {
		return fmt.Errorf("tornet: %w", err)
	}
	fields := strings.Fields(string(b)) // "nickname FINGERPRINT"
	if len(fields) != 2 || !isFingerprint(fields[1]) {
		return fmt.Errorf("tornet: %s: malformed fingerprint file %q", n.Name, b)
	}
	n.Fingerprint = fields[1]
	return nil
}

func isFingerprint(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// writeTorrc writes lines as a torrc after checking they confine tor to the
// private network: nothing here ever configures a tor for the public one.
func writeTorrc(path string, lines []string) error {
	if err := CheckPrivate(lines); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
}
