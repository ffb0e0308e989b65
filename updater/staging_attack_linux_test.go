package updater

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/internal/testdir"
	"github.com/orbitagent/orbit/internal/testwait"
)

// startAttacker runs helperSwap as the user nobody on dir until the test
// ends. The test binary is copied where nobody may run it.
func startAttacker(t *testing.T, dir string, evil []byte) (beat string) {
	t.Helper()
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("the attacker runs as nobody: %v", err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	home := testdir.Shared(t)
	bin := filepath.Join(home, "attacker")
	if err := os.WriteFile(bin, mustRead(t, self), 0o755); err != nil {
		t.Fatal(err)
	}
	beat = filepath.Join(home, "beat")
	if err := os.Chmod(home, 0o777); err != nil {
		t.Fatal(err)
	}
	var cmd *exec.Cmd
	// A fresh Cmd per try: the copy may be "text file busy" for a moment.
	err = retryBusy(func() error {
		cmd = exec.Command(bin)
		cmd.Env = []string{"ORBIT_UPDATER_HELPER=swap", "ORBIT_SWAP_DIR=" + dir, "ORBIT_SWAP_EVIL=" + string(evil), "ORBIT_SWAP_BEAT=" + beat}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		return cmd.Start()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	testwait.For(t, "the attacker's first sweep", func() bool {
		_, err := os.Stat(beat)
		return err == nil
	})
	return beat
}

// A local user who can write staging/ must not get their file run or
// installed as root: with a world-writable staging the install is refused
// (and retried, the release is not blamed); with a private one the signed
// file is what gets installed. The signed release takes a second to answer
// its exec check, which leaves the attacker ample time between the check
// and the install.
func TestStagingSwapByAnotherUser(t *testing.T) {
	t.Parallel()
	testbin.NeedRoot(t, "runs the attacker as another user")
	cases := []struct {
		name    string
		mode    os.FileMode
		refused bool
	}{
		{"world-writable staging", 0o777, true},
		{"group-writable staging", 0o775, true},
		{"private staging", 0o755, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, false)
			// The root lives where nobody can reach staging.
			base := testdir.Shared(t)
			root := filepath.Join(base, "orbit")
			if err := os.Mkdir(root, 0o755); err != nil {
				t.Fatal(err)
			}
			e.layout.Root = root
			if err := e.layout.Create(); err != nil {
				t.Fatal(err)
			}
			v1 := script("1.0.0", 0, e.marks, 0)
			e.repo.addTarget(osqTarget, v1, "1.0.0")
			e.repo.publish()
			u := e.updater(e.config(osqComp))
			check(t, u)
			if err := os.Chmod(e.layout.Staging(), c.mode); err != nil {
				t.Fatal(err)
			}
			v2 := []byte("#!/bin/sh\ncase \"$1\" in --version) sleep 1; echo \"stand-in version 2.0.0\"; exit 0;; esac\nexit 0\n")
			e.repo.addTarget(osqTarget, v2, "2.0.0")
			e.repo.publish()

			decoy := filepath.Join(e.layout.Staging(), "decoy")
			if err := os.WriteFile(decoy, []byte("root's"), 0o644); err != nil {
				t.Fatal(err)
			}
			startAttacker(t, e.layout.Staging(), evil(e.marks))
			if c.mode&0o022 != 0 && c.mode&0o002 != 0 {
				// The attacker really can replace files in this staging.
				testwait.For(t, "the attacker to replace a file in a world-writable staging", func() bool {
					return bytes.Equal(mustRead(t, decoy), evil(e.marks))
				})
			}

			res := check(t, u)
			p := e.layout.Bin("osqueryd", "linux", "stable", "osqueryd")
			if e.pwned() {
				t.Fatal("the attacker's file ran as root")
			}
			got := mustRead(t, p)
			switch {
			case c.refused:
				ferr := res.Failed["osqueryd"]
				if ferr == nil || !errors.Is(ferr, errOpenDir) || !strings.Contains(ferr.Error(), e.layout.Staging()) {
					t.Fatalf("install through a staging others can write: %+v, want a refusal naming %s", res, e.layout.Staging())
				}
				if !slices.Equal(res.Retrying, []string{"osqueryd"}) {
					t.Fatalf("the refusal is held against the release: %+v", res)
				}
				if !bytes.Equal(got, v1) {
					t.Fatalf("installed binary changed to %q", got)
				}
			default:
				if !slices.Equal(res.Installed, []string{"osqueryd"}) || !bytes.Equal(got, v2) {
					t.Fatalf("private staging: %+v, installed %q; want the signed v2", res, got)
				}
			}
		})
	}
}

// tuf/ holds the trusted root and the record of what is installed, which
// says what runs as root: the updater refuses to start on one that others
// can write, naming it.
func TestOpenTUFDirIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	if err := os.Chmod(e.layout.TUF(), 0o777); err != nil {
		t.Fatal(err)
	}
	_, err := New(e.config(osqComp))
	if err == nil || !errors.Is(err, errOpenDir) || !strings.Contains(err.Error(), e.layout.TUF()) || !strings.Contains(err.Error(), "chmod go-w") {
		t.Fatalf("New with a world-writable tuf/: %v, want a refusal naming it and the fix", err)
	}
}
