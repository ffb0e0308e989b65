package osquery

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/internal/testwait"
)

// startDetached starts a process in its own group, as orbit does, and
// reaps it in the background so a killed one does not linger as a zombie.
func startDetached(t *testing.T, path string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
	return cmd
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	testwait.For(t, fmt.Sprintf("process %d to end", pid), func() bool {
		_, err := processArgs(pid)
		return err != nil
	})
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	testwait.For(t, path+" to appear", func() bool {
		_, err := os.Stat(path)
		return err == nil
	})
}

func TestKillStaleStopsOurOsqueryd(t *testing.T) {
	t.Parallel()
	bin := testbin.Build(t, "./testdata/osqueryd", "osqueryd", "")
	root := t.TempDir()
	pidFile := filepath.Join(root, "osquery.pid")
	// An orphan from an earlier orbit, ignoring SIGTERM as a hung one might.
	cmd := exec.Command(bin, "--pidfile="+pidFile, "--database_path="+filepath.Join(root, "db"))
	cmd.Env = append(os.Environ(), "OSQUERYD_STANDIN_IGNORE_SIGTERM=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait()
	waitFile(t, pidFile)

	if err := KillStale(context.Background(), pidFile, zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	waitGone(t, cmd.Process.Pid)
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Fatalf("pid file left behind: %v", err)
	}
}

func TestKillStaleLeavesOthersAlone(t *testing.T) {
	t.Parallel()
	bin := testbin.Build(t, "./testdata/osqueryd", "osqueryd", "")
	tests := []struct {
		name  string
		start func(t *testing.T, pidFile string) *exec.Cmd
	}{
		{"recycled pid of another program", func(t *testing.T, _ string) *exec.Cmd {
			return startDetached(t, "/bin/sleep", "300")
		}},
		{"osqueryd of another root", func(t *testing.T, _ string) *exec.Cmd {
			other := t.TempDir()
			return startDetached(t, bin, "--pidfile="+filepath.Join(other, "osquery.pid"), "--database_path="+filepath.Join(other, "db"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pidFile := filepath.Join(t.TempDir(), "osquery.pid")
			cmd := tt.start(t, pidFile)
			if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := KillStale(context.Background(), pidFile, zerolog.Nop()); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Kill(cmd.Process.Pid, 0); err != nil {
				t.Fatalf("process %d was killed, want it left alone: %v", cmd.Process.Pid, err)
			}
		})
	}
}
