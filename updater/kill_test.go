//go:build !windows

package updater

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/rootdir"
)

// TestMain lets the test binary act as an updater process in a child, so
// tests can kill it at any moment.
func TestMain(m *testing.M) {
	switch os.Getenv("ORBIT_UPDATER_HELPER") {
	case "check":
		os.Exit(helperCheck())
	case "apply":
		os.Exit(helperApply())
	case "swap":
		os.Exit(helperSwap())
	}
	os.Exit(testbin.Main(m))
}

// helperCheck runs one update check for osqueryd on ORBIT_UPDATER_ROOT.
func helperCheck() int {
	rootJSON, err := os.ReadFile(os.Getenv("ORBIT_UPDATER_ROOTJSON"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	u, err := New(Config{
		Layout: rootdir.Layout{Root: os.Getenv("ORBIT_UPDATER_ROOT")}, UpdateURL: os.Getenv("ORBIT_UPDATER_URL"),
		RootJSON: rootJSON, Platform: "linux", Components: []Component{osqComp}, Logger: zerolog.New(io.Discard),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	res, err := u.Check(context.Background())
	if err != nil || len(res.Failed) != 0 {
		fmt.Fprintln(os.Stderr, err, res.Failed)
		return 1
	}
	return 0
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, target)
		case info.IsDir():
			return os.MkdirAll(target, info.Mode().Perm())
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, b, info.Mode().Perm())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestKillDuringInstallLeavesRunnableBinary(t *testing.T) {
	t.Parallel()
	runs := 50
	if testing.Short() {
		runs = 10
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, false)
	// Big enough that a kill often lands mid-download or mid-rename.
	v1 := script("1.0.0", 0, e.marks, 4<<20)
	v2 := script("2.0.0", 0, e.marks, 4<<20)
	e.repo.addTarget(osqTarget, v1, "1.0.0")
	e.repo.publish()
	check(t, e.updater(e.config(osqComp)))
	e.repo.addTarget(osqTarget, v2, "2.0.0")
	e.repo.publish()
	rootFile := filepath.Join(t.TempDir(), "root.json")
	os.WriteFile(rootFile, e.repo.bundled, 0o644)

	child := func(root string) *exec.Cmd {
		cmd := exec.Command(self, "-test.run=^$")
		cmd.Env = append(os.Environ(), "ORBIT_UPDATER_HELPER=check", "ORBIT_UPDATER_ROOT="+root,
			"ORBIT_UPDATER_URL="+e.srv.srv.URL, "ORBIT_UPDATER_ROOTJSON="+rootFile)
		return cmd
	}
	// Calibrate the kill moments on how long an uninterrupted install takes here.
	calib := t.TempDir()
	copyTree(t, e.layout.Root, calib)
	start := time.Now()
	if out, err := child(calib).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted child: %v\n%s", err, out)
	}
	span := time.Since(start) + 20*time.Millisecond

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	counts := map[string]int{}
	for i := 0; i < runs; i++ {
		root := filepath.Join(t.TempDir(), "root")
		copyTree(t, e.layout.Root, root)
		cmd := child(root)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.Int64N(int64(span))))
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()

		l := rootdir.Layout{Root: root}
		p := l.Bin("osqueryd", "linux", "stable", "osqueryd")
		got := mustRead(t, p)
		var which string
		switch {
		case bytes.Equal(got, v1):
			which = "1.0.0"
		case bytes.Equal(got, v2):
			which = "2.0.0"
		default:
			t.Fatalf("run %d: %s is neither v1 nor v2 (%d bytes)", i, p, len(got))
		}
		counts[which]++
		if out, err := versionOf(p); err != nil || !strings.Contains(out, which) {
			t.Fatalf("run %d: installed binary does not run: %q %v", i, out, err)
		}
		// The next run recovers: it completes the update.
		if out, err := child(root).CombinedOutput(); err != nil {
			t.Fatalf("run %d: recovery check: %v\n%s", i, err, out)
		}
		if !bytes.Equal(mustRead(t, p), v2) {
			t.Fatalf("run %d: recovery did not install v2", i)
		}
		if ents, _ := os.ReadDir(l.Staging()); len(ents) != 0 {
			t.Fatalf("run %d: staging not cleaned after recovery: %v", i, ents)
		}
		st, err := loadState(l)
		if err != nil || st.Components["osqueryd"].Version != "2.0.0" {
			t.Fatalf("run %d: state after recovery: %+v %v", i, st.Components["osqueryd"], err)
		}
	}
	t.Logf("kill left v1 %d times, v2 %d times (install takes about %s)", counts["1.0.0"], counts["2.0.0"], span)
}
