package agent

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/component"
	"github.com/orbitagent/orbit/fleet"
	"github.com/orbitagent/orbit/rootdir"
	"github.com/orbitagent/orbit/updater"
)

// fakeExtUpdater installs what it is asked for when the test says so.
type fakeExtUpdater struct {
	layout    rootdir.Layout
	set       []updater.Component
	installed map[component.Name]string
	refuse    bool
}

func (f *fakeExtUpdater) SetExtensions(exts []updater.Component) ([]component.Name, error) {
	if f.refuse {
		return nil, errors.New("refused")
	}
	var dropped []component.Name
	for _, old := range f.set {
		if !slices.ContainsFunc(exts, func(c updater.Component) bool { return c.Name == old.Name }) {
			dropped = append(dropped, old.Name)
			delete(f.installed, old.Name)
		}
	}
	f.set = exts
	return dropped, nil
}

func (f *fakeExtUpdater) ExecPath(name component.Name) (string, error) {
	if p, ok := f.installed[name]; ok {
		return p, nil
	}
	return "", updater.ErrNotInstalled
}

func (f *fakeExtUpdater) install(t *testing.T, name string) component.Name {
	t.Helper()
	c := updater.ExtensionComponent(name, "linux", "stable")
	f.installed[c.Name] = c.Path(f.layout, "linux")
	return c.Name
}

type restartCount struct{ n atomic.Int32 }

func (r *restartCount) Restart() { r.n.Add(1) }

func TestExtensionsListOnlyInstalledOnesAndRestartOsquerydOnChange(t *testing.T) {
	t.Parallel()
	l := rootdir.Layout{Root: t.TempDir()}
	upd := &fakeExtUpdater{layout: l, installed: map[component.Name]string{}}
	osq := &restartCount{}
	e := &extensions{upd: upd, layout: l, osqueryd: osq, log: zerolog.Nop()}
	list := func() string { b, _ := os.ReadFile(l.ExtensionsAutoload()); return string(b) }

	e.SetExtensions([]fleet.Extension{{Name: "hello", Platform: "linux", Channel: "stable"}})
	if list() != "" || osq.n.Load() != 0 {
		t.Fatalf("before the install: list %q, %d restarts", list(), osq.n.Load())
	}
	if len(upd.set) != 1 || upd.set[0].Name != "extensions/hello" || upd.set[0].FileName != "hello.ext" {
		t.Fatalf("updater asked for %+v", upd.set)
	}
	// The updater installed it: listed, one restart.
	hello := upd.install(t, "hello")
	e.installed(hello)
	want := filepath.Join(l.Root, "bin", "extensions", "hello", "linux", "stable", "hello.ext") + "\n"
	if list() != want || osq.n.Load() != 1 {
		t.Fatalf("after the install: list %q, %d restarts; want %q, 1", list(), osq.n.Load(), want)
	}
	// Something else the updater restarts is not ours.
	e.installed(component.Name("extensions/other"))
	if osq.n.Load() != 1 {
		t.Fatal("an extension Fleet did not ask for restarted osqueryd")
	}
	// The same list again: nothing.
	e.SetExtensions([]fleet.Extension{{Name: "hello", Platform: "linux", Channel: "stable"}})
	if osq.n.Load() != 1 {
		t.Fatal("an unchanged list restarted osqueryd")
	}
	// Dropped: the list empties, osqueryd restarts once.
	e.SetExtensions(nil)
	if list() != "" || osq.n.Load() != 2 {
		t.Fatalf("after the drop: list %q, %d restarts; want empty, 2", list(), osq.n.Load())
	}
	// A list the updater refuses changes nothing.
	upd.refuse = true
	e.SetExtensions([]fleet.Extension{{Name: "x", Platform: "linux", Channel: "stable"}})
	if list() != "" || osq.n.Load() != 2 {
		t.Fatal("a refused list changed something")
	}
}
