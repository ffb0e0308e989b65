//go:build !windows

package updater

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/orbitagent/orbit/component"
)

func TestExtensionsAddedAndRemovedAtRunTime(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	e.repo.addTarget("osqueryd/linux/stable/osqueryd", script("5.0.0", 0, e.marks, 0), "5.0.0")
	e.repo.addTarget("extensions/hello/linux/stable/hello.ext", script("1.0.0", 0, e.marks, 0), "1.0.0")
	e.repo.publish()
	u := e.updater(e.config(osqComp))
	check(t, u)
	hello := component.Extension("hello")
	if _, err := u.ExecPath(hello); err == nil {
		t.Fatal("an extension nobody asked for is installed")
	}

	dropped, err := u.SetExtensions([]Component{ExtensionComponent("hello", "linux", "stable")})
	if err != nil || len(dropped) != 0 {
		t.Fatalf("SetExtensions = %v, %v", dropped, err)
	}
	select {
	case <-u.wake:
	default:
		t.Fatal("a new extension did not wake Run")
	}
	res := check(t, u)
	want := e.layout.Bin("extensions/hello", "linux", "stable", "hello.ext")
	if p, err := u.ExecPath(hello); !slices.Equal(res.Installed, []string{"extensions/hello"}) || p != want || err != nil {
		t.Fatalf("check %+v, path %q (%v), want %s", res, p, err, want)
	}
	if st, err := os.Stat(want); err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("installed extension: %v %v", st, err)
	}
	if calls := e.rec.calls(); !slices.Contains(calls, "extensions/hello") {
		t.Fatalf("restarts %v: the runner was not told of the new extension", calls)
	}

	// The same list again changes nothing and wakes nobody.
	if dropped, err := u.SetExtensions([]Component{ExtensionComponent("hello", "linux", "stable")}); err != nil || len(dropped) != 0 {
		t.Fatalf("SetExtensions = %v, %v", dropped, err)
	}
	select {
	case <-u.wake:
		t.Fatal("an unchanged list woke Run")
	default:
	}

	// Dropped: reported at once, its files and record go at the next check.
	dropped, err = u.SetExtensions(nil)
	if err != nil || !slices.Equal(dropped, []component.Name{hello}) {
		t.Fatalf("SetExtensions(nil) = %v, %v", dropped, err)
	}
	<-u.wake
	check(t, u)
	if _, err := os.Stat(filepath.Join(e.layout.Root, "bin", "extensions", "hello")); !os.IsNotExist(err) {
		t.Fatalf("dropped extension's files left: %v", err)
	}
	if _, err := u.ExecPath(hello); err == nil {
		t.Fatal("dropped extension still has an installed path")
	}
	if p, err := u.ExecPath("osqueryd"); err != nil || !strings.HasSuffix(p, "/osqueryd") {
		t.Fatalf("osqueryd after the extension went: %q %v", p, err)
	}
	// Its record is gone from the state on disk too.
	st, err := loadState(e.layout)
	if err != nil || st.Components[hello] != nil {
		t.Fatalf("state after removal: %+v %v", st.Components, err)
	}
}

func TestSetExtensionsRefusesWhatIsNoExtension(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	u := e.updater(e.config(osqComp))
	for _, tc := range []struct {
		name string
		exts []Component
		want string
	}{
		{"escapes bin", []Component{ExtensionComponent("../../etc", "linux", "stable")}, "not usable"},
		{"slash in name", []Component{ExtensionComponent("a/b", "linux", "stable")}, "not usable"},
		{"bad channel", []Component{ExtensionComponent("hello", "linux", "../x")}, "not a channel"},
		{"bad platform", []Component{ExtensionComponent("hello", "..", "stable")}, "one path element"},
		{"not an extension", []Component{osqComp}, "is not an extension"},
		{"twice", []Component{ExtensionComponent("a", "linux", "stable"), ExtensionComponent("a", "linux", "edge")}, "given twice"},
	} {
		if _, err := u.SetExtensions(tc.exts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if len(u.components()) != 1 {
		t.Fatalf("a refused list changed the components: %+v", u.components())
	}
}

func TestChannelInEffect(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	u := e.updater(e.config(osqComp, OrbitComponent("stable")))
	u.SetChannels("edge", "", "")
	if got := u.Channel("orbit"); got != "edge" {
		t.Errorf("orbit channel %q, want Fleet's edge", got)
	}
	if got := u.Channel("osqueryd"); got != "stable" {
		t.Errorf("osqueryd channel %q, want the configured stable", got)
	}
	if got := u.Channel("desktop"); got != "" {
		t.Errorf("desktop channel %q, want none (not kept)", got)
	}
}

func TestExtensionComponentNames(t *testing.T) {
	t.Parallel()
	if c := extensionFor("windows", "hello", "windows", "stable"); c.FileName != "hello.ext.exe" || targetName(c, "windows", "stable") != "extensions/hello/windows/stable/hello.ext.exe" {
		t.Errorf("windows: %+v", c)
	}
	if c := extensionFor("linux", "hello", "linux", "edge"); c.FileName != "hello.ext" || targetName(c, "linux", "edge") != "extensions/hello/linux/edge/hello.ext" || c.Validate() != nil {
		t.Errorf("linux: %+v", c)
	}
}
