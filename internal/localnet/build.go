//go:build unix

package localnet

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Build compiles loam-node into outDir with `go build` from the module
// root and returns the binary's path. flags go to `go build` (for example
// "-race", so that a data race in any process fails its exit status).
func Build(ctx context.Context, outDir string, flags ...string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("localnet: the go command is needed to build loam-node: %w", err)
	}
	root, err := moduleRoot(ctx, goBin)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(outDir, "loam-node")
	args := append([]string{"build", "-o", bin}, flags...)
	cmd := exec.CommandContext(ctx, goBin, append(args, "./cmd/loam-node")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("localnet: go %s: %w\n%s", strings.Join(cmd.Args[1:], " "), err, out)
	}
	return bin, nil
}

// moduleRoot finds the directory of the go.mod that holds the working
// directory: tests run in their package's directory, make from the root.
func moduleRoot(ctx context.Context, goBin string) (string, error) {
	out, err := exec.CommandContext(ctx, goBin, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("localnet: go env GOMOD: %w", err)
	}
	gomod := string(bytes.TrimSpace(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("localnet: not inside the loam module (go env GOMOD is empty)")
	}
	return filepath.Dir(gomod), nil
}
