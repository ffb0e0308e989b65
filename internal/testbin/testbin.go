// Package testbin builds the project's programs (orbit, the stand-in
// osqueryd, ...) for tests that run them as real processes, and finds the
// outside tools and privileges tests need (need.go). Each program is built
// once per test binary; a TestMain calls Main, which removes them.
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
	p, err := build(pkg, name, ldflags, runtime.GOOS, runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// BuildProgram is Build for a program that is not a test (make bench's
// report): it returns the error instead of failing a test.
func BuildProgram(pkg, name, ldflags string) (string, error) {
	return build(pkg, name, ldflags, runtime.GOOS, runtime.GOARCH)
}

// BuildProgramFor is BuildProgram for another platform (make bench's
// packages bundle orbit built for macOS and Windows).
func BuildProgramFor(pkg, name, ldflags, goos, goarch string) (string, error) {
	return build(pkg, name, ldflags, goos, goarch)
}

// BuildFor is Build for another platform (GOOS/GOARCH), for tests that
// package or inspect a binary rather than run it. The name is used as given.
func BuildFor(t testing.TB, pkg, name, goos, goarch string) string {
	t.Helper()
	p, err := build(pkg, name, "", goos, goarch)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func build(pkg, name, ldflags, goos, goarch string) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	key := pkg + "|" + name + "|" + ldflags + "|" + goos + "/" + goarch
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
	if goos == runtime.GOOS && runtime.GOOS == "windows" && !strings.HasSuffix(name, ".exe") {
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
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	built[key] = out
	return out, nil
}

// Main runs a test binary's tests and then removes the programs built for
// them: a package's TestMain is
//
//	func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }
func Main(m *testing.M) int {
	defer Cleanup()
	return m.Run()
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
