package updater

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/orbitagent/orbit/component"
	"github.com/orbitagent/orbit/status"
)

// ExtensionComponent is the osquery extension called name as Fleet's
// repositories publish it: the target
// extensions/<name>/<platform>/<channel>/<name>.ext (.ext.exe on
// Windows, where every executable needs .exe), a plain executable checked
// with --help, as osquery extensions have no --version. Validate it (or
// let SetExtensions do) before use: name, platform and channel become
// path elements under bin/.
func ExtensionComponent(name, platform, channel string) Component {
	return extensionFor(runtime.GOOS, name, platform, channel)
}

func extensionFor(goos, name, platform, channel string) Component {
	return Component{Name: component.Extension(name), Platform: platform, Channel: channel,
		FileName: exeName(goos, name+".ext"), ExecCheck: []string{"--help"}}
}

// extensionName is the <name> of extensions/<name>.
func extensionName(n component.Name) (string, bool) {
	return strings.CutPrefix(string(n), string(component.Extension("")))
}

// SetExtensions replaces the osquery extensions the updater keeps (the
// components named extensions/<name>; the others are left alone), as
// Fleet's config lists them. It wakes Run for a check at once when the
// list changed: a new extension is fetched, verified and installed like
// any component (the Restarter then hears of it), and a dropped one has
// its files under bin/extensions/<name>/ and its record removed at the
// start of that check, off the caller's goroutine. It returns the
// extensions dropped, so the caller stops loading them. It refuses the
// whole list when one entry is not a usable extension component.
func (u *Updater) SetExtensions(exts []Component) ([]component.Name, error) {
	seen := map[component.Name]bool{}
	for _, c := range exts {
		if _, ok := extensionName(c.Name); !ok {
			return nil, fmt.Errorf("updater: %s is not an extension (extensions/<name>)", c.Name)
		}
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("updater: %w", err)
		}
		if c.SelfUpdate || c.archive() {
			return nil, fmt.Errorf("updater: extension %s must be a plain executable", c.Name)
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("updater: extension %s given twice", c.Name)
		}
		seen[c.Name] = true
	}
	u.chMu.Lock()
	changed := len(exts) != len(u.exts)
	var dropped []component.Name
	for _, old := range u.exts {
		if !seen[old.Name] {
			dropped = append(dropped, old.Name)
			u.dropped[old.Name] = true
		}
	}
	for i, c := range exts {
		delete(u.dropped, c.Name)
		if !changed && !sameTarget(u.exts[i], c) {
			changed = true
		}
	}
	u.exts = append([]Component(nil), exts...)
	u.chMu.Unlock()
	if changed || len(dropped) > 0 {
		u.wakeUp()
	}
	return dropped, nil
}

// sameTarget reports whether a and b are the same component at the same
// target.
func sameTarget(a, b Component) bool {
	return a.Name == b.Name && a.Platform == b.Platform && a.Channel == b.Channel && a.FileName == b.FileName
}

// removeDroppedLocked removes what dropped extensions left on disk and
// in the state. Called under checkMu.
func (u *Updater) removeDroppedLocked() {
	u.chMu.Lock()
	var names []component.Name
	for n := range u.dropped {
		names = append(names, n)
	}
	u.dropped = map[component.Name]bool{}
	u.chMu.Unlock()
	for _, n := range names {
		name, ok := extensionName(n)
		if !ok || n.Validate() != nil {
			continue // SetExtensions let only valid extension names in
		}
		dir := filepath.Join(u.cfg.Layout.Root, "bin", "extensions", name)
		if err := os.RemoveAll(dir); err != nil {
			// Windows cannot remove a running program: the next list
			// change tries again; it is no longer loaded either way.
			u.log.Warn().Err(err).Str("component", string(n)).Msg("cannot remove a dropped extension's files")
			u.chMu.Lock()
			u.dropped[n] = true
			u.chMu.Unlock()
			continue
		}
		u.commit(func(s *state) {
			delete(s.Components, n)
			delete(s.Watches, n)
		})
		u.log.Info().Str("component", string(n)).Msg("extension removed")
		u.event(status.UpdateEvent{Component: string(n), Action: "removed"})
	}
}
