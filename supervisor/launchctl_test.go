package supervisor

import (
	"slices"
	"strings"
	"testing"
)

// macOS starts a user's program through launchctl asuser, sudo and env:
// no shell, the user by uid, the environment given in full.
func TestAsUserSpec(t *testing.T) {
	t.Parallel()
	spec := Spec{
		Path: "/opt/orbit/bin/desktop/macos/stable/Fleet Desktop.app/Contents/MacOS/fleet-desktop",
		Args: []string{"--x"},
		Env:  []string{"HOME=/Users/alice", "FLEET_DESKTOP_FLEET_URL=https://fleet.example.com/?a=b", "-bad=1", "noequals"},
		Dir:  "/Users/alice",
		User: &User{Name: "alice", UID: 501, GID: 20},
	}
	got, err := asUserSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"asuser", "501", "/usr/bin/sudo", "-u", "#501", "--", "/usr/bin/env", "-i",
		"HOME=/Users/alice", "FLEET_DESKTOP_FLEET_URL=https://fleet.example.com/?a=b", spec.Path, "--x"}
	if got.Path != "/bin/launchctl" || !slices.Equal(got.Args, want) || got.Dir != spec.Dir {
		t.Errorf("spec %q %q in %s,\nwant /bin/launchctl %q", got.Path, got.Args, got.Dir, want)
	}
	if slices.ContainsFunc(got.Env, func(kv string) bool { return strings.HasPrefix(kv, "FLEET_") }) {
		t.Errorf("launchctl's own environment %q carries the child's", got.Env)
	}

	spec.Path = "/opt/a=b/tray"
	if _, err := asUserSpec(spec); err == nil {
		t.Error("a path with '=' would be taken by env as a variable")
	}
}
