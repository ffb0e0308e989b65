package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/internal/testdir"
	"github.com/orbitagent/orbit/internal/testwait"
)

func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

// gone: the process is no more, or a zombie waiting for its parent.
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] == "Z"
}

// TestSession: democtl session brings up a session bus with a
// StatusNotifierWatcher on it and a compositor socket, and takes its bus
// daemon along when it stops, also when it is killed with SIGKILL.
func TestSession(t *testing.T) {
	t.Parallel()
	testbin.NeedTool(t, "dbus-daemon")
	bin := testbin.Build(t, "./testdata/demo/democtl", "democtl", "")
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			dir := testdir.Short(t) // a socket's path has at most 107 bytes
			bus, wayland := filepath.Join(dir, "bus"), filepath.Join(dir, "wayland-0")
			cmd := exec.Command(bin, "session", "--bus-socket", bus, "--wayland", wayland)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			lines := make(chan string, 1)
			go func() {
				sc := bufio.NewScanner(stdout)
				if sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
				_, _ = io.Copy(io.Discard, stdout)
			}()
			ready := testwait.Recv(t, lines, "democtl session saying it is up")
			m := regexp.MustCompile(`^session bus unix:path=(\S+) pid (\d+), StatusNotifierWatcher up, compositor socket (\S+)$`).FindStringSubmatch(ready)
			if m == nil || m[1] != bus || m[3] != wayland {
				t.Fatalf("democtl session said %q", ready)
			}
			daemon, _ := strconv.Atoi(m[2])
			t.Cleanup(func() {
				if !gone(daemon) {
					_ = syscall.Kill(daemon, syscall.SIGKILL)
				}
			})
			for _, p := range []string{bus, wayland} {
				if fi, err := os.Stat(p); err != nil || fi.Mode()&os.ModeSocket == 0 {
					t.Fatalf("%s is not a socket: %v", p, err)
				}
			}
			// The watcher answers on the bus: a panel finds no item yet.
			err = run([]string{"menu", "--bus", "unix:path=" + bus, "--timeout", "200ms"}, nil, io.Discard)
			if err == nil || !strings.Contains(err.Error(), "no item registered with the StatusNotifierWatcher") {
				t.Fatalf("menu on an empty session: %v", err)
			}

			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			werr := cmd.Wait()
			if sig == syscall.SIGTERM {
				if werr != nil {
					t.Fatalf("exit after SIGTERM: %v", werr)
				}
				if _, err := os.Stat(wayland); !os.IsNotExist(err) {
					t.Errorf("the compositor socket is still there after SIGTERM: %v", err)
				}
			}
			if !testwait.Poll(testwait.Limit, func() bool { return gone(daemon) }) {
				t.Fatalf("dbus-daemon %d outlived democtl session (%v)", daemon, sig)
			}
		})
	}
}
