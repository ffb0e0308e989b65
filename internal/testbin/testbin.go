// Package testbin builds the project's programs (orbit, the stand-in
// osqueryd, ...) for tests that run them as real processes. Each program
// is built once per test binary; call Cleanup from TestMain.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	dir   string
	built = map[string]string{}
)

// Build compiles the package (a path relative to the module root, such as
// "./cmd/orbit") into a file named name and returns its path. ldflags are
// passed to -ldflags (e.g. "-X main.version=1.2.3").
func Build(t testing.TB, pkg, name, ldflags string) string {
	t.Helper()
	p, err := build(pkg, name, ldflags)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func build(pkg, name, ldflags string) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	key := pkg + "|" + name + "|" + ldflags
	if p, ok := built[key]; ok {
		return p, nil
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "orbit-testbin-")
		if err != nil {
			return "", err
		}
		dir = d
	}
	sub := filepath.Join(dir, fmt.Sprint(len(built)))
	if err := os.MkdirAll(sub, 0o755); err != nil {
		return "", err
	}
	if runtime.GOOS == "windows" && !strings.HasSuffix(name, ".exe") {
		name += ".exe"
	}
	out := filepath.Join(sub, name)
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	args := []string{"build", "-o", out}
	if ldflags != "" {
		args = append(args, "-ldflags", ldflags)
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	built[key] = out
	return out, nil
}

// Cleanup removes every built program.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
	}
}

// ModuleRoot is the directory of orbit's go.mod.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the orbit module")
	}
	return filepath.Dir(mod), nil
}
