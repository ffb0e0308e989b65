// Package testuser creates throwaway local accounts for tests that run
// programs as another user (the tray app runs as each logged-in user).
// It needs root: on a laptop the test is skipped, under CI=true it fails.
package testuser

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orbitagent/orbit/internal/testbin"
)

// User is an account created for one test.
type User struct {
	Name string
	UID  uint32
	GID  uint32
	// Groups are the supplementary groups from the group database: the
	// user's own group and Extra.
	Groups []uint32
	// Extra is a supplementary group created with the user.
	Extra uint32
	Home  string
}

// New creates a user with a random name, a home directory under the
// system's temporary directory and one extra supplementary group; both
// are removed at the end of the test.
func New(t testing.TB) User {
	t.Helper()
	testbin.NeedRoot(t, "creates a user and runs programs as that user")
	useradd := testbin.NeedTool(t, "useradd")
	userdel := testbin.NeedTool(t, "userdel")
	groupadd := testbin.NeedTool(t, "groupadd")
	groupdel := testbin.NeedTool(t, "groupdel")

	name := "orbt" + randomHex(t, 6)
	group := name + "x"
	run(t, groupadd, group)
	t.Cleanup(func() { runQuiet(groupdel, group) })
	parent, err := os.MkdirTemp("", "orbit-testuser-")
	if err != nil {
		t.Fatal(err)
	}
	// The home's parent must be reachable by the user.
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	home := filepath.Join(parent, name)
	run(t, useradd, "--create-home", "--home-dir", home, "--shell", "/usr/sbin/nologin", "--user-group", "--groups", group, name)
	t.Cleanup(func() { runQuiet(userdel, "--remove", name) })

	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("look up the new user %s: %v", name, err)
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		t.Fatalf("look up the new group %s: %v", group, err)
	}
	out := User{Name: name, UID: parseID(t, u.Uid), GID: parseID(t, u.Gid), Extra: parseID(t, g.Gid), Home: u.HomeDir}
	gids, err := u.GroupIds()
	if err != nil {
		t.Fatalf("groups of %s: %v", name, err)
	}
	for _, id := range gids {
		out.Groups = append(out.Groups, parseID(t, id))
	}
	slices.Sort(out.Groups)
	if !slices.Contains(out.Groups, out.Extra) {
		t.Fatalf("user %s is not in its extra group %d: groups %v", name, out.Extra, out.Groups)
	}
	return out
}

// run retries while another useradd holds the account database's lock
// (tests run in parallel).
func run(t testing.TB, tool string, args ...string) {
	t.Helper()
	var out []byte
	var err error
	for range 50 {
		out, err = exec.Command(tool, args...).CombinedOutput()
		if err == nil {
			return
		}
		if !strings.Contains(string(out), "lock") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
}

func runQuiet(tool string, args ...string) {
	for range 50 {
		out, err := exec.Command(tool, args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "lock") {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func parseID(t testing.TB, s string) uint32 {
	t.Helper()
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		t.Fatalf("id %q: %v", s, err)
	}
	return uint32(v)
}

// CheckCreds fails the test unless every uid and gid of pid is u's (none
// is root's: it cannot get root back) and its groups are exactly u's.
func CheckCreds(t testing.TB, pid int, u User) {
	t.Helper()
	for key, want := range map[string][]uint32{
		"Uid":    {u.UID, u.UID, u.UID, u.UID}, // real, effective, saved, filesystem
		"Gid":    {u.GID, u.GID, u.GID, u.GID},
		"Groups": u.Groups,
	} {
		got, err := StatusIDs(pid, key)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("process %d: /proc status %s %v, want %v (%s's, never root's)", pid, key, got, want, u.Name)
		}
	}
}

// pids lists the processes in /proc now.
func pids() []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// Processes lists the pids of the processes (zombies included) that run
// with uid as their real user id.
func Processes(uid uint32) []int {
	var out []int
	for _, pid := range pids() {
		if ids, err := StatusIDs(pid, "Uid"); err == nil && len(ids) > 0 && ids[0] == uid {
			out = append(out, pid)
		}
	}
	return out
}

// StatusIDs returns the numbers of a /proc/<pid>/status line: "Uid" and
// "Gid" (real, effective, saved, filesystem) or "Groups".
func StatusIDs(pid int, key string) ([]uint32, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		rest, ok := strings.CutPrefix(line, key+":")
		if !ok {
			continue
		}
		var ids []uint32
		for _, f := range strings.Fields(rest) {
			v, err := strconv.ParseUint(f, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("/proc/%d/status %s: %q", pid, key, f)
			}
			ids = append(ids, uint32(v))
		}
		return ids, nil
	}
	return nil, fmt.Errorf("/proc/%d/status has no %s line", pid, key)
}

// Zombies lists the pids of zombie children of ppid.
func Zombies(ppid int) []int {
	var out []int
	for _, pid := range pids() {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// After "pid (comm)": state, ppid. comm may hold spaces and parens.
		i := strings.LastIndexByte(string(data), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(data[i+1:]))
		if len(f) >= 2 && f[0] == "Z" && f[1] == strconv.Itoa(ppid) {
			out = append(out, pid)
		}
	}
	return out
}
