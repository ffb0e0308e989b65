package updater

import (
	"slices"
	"testing"

	"github.com/orbitagent/orbit/component"
)

// Fleet's target names for each component, per OS.
func TestFleetComponents(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		goos string
		got  Component
		want Component
	}{
		{"linux", orbitFor("linux", "edge"), Component{Name: component.Orbit, Channel: "edge", FileName: "orbit", ExecCheck: []string{"version"}, SelfUpdate: true}},
		{"windows", orbitFor("windows", "stable"), Component{Name: component.Orbit, Channel: "stable", FileName: "orbit.exe", ExecCheck: []string{"version"}, SelfUpdate: true}},
		{"linux", osquerydFor("linux", "stable"), Component{Name: component.Osqueryd, Channel: "stable", FileName: "osqueryd"}},
		{"windows", osquerydFor("windows", "stable"), Component{Name: component.Osqueryd, Channel: "stable", FileName: "osqueryd.exe"}},
		{"darwin", osquerydFor("darwin", "5.12"), Component{Name: component.Osqueryd, Channel: "5.12", Platform: "macos-app",
			FileName: "osqueryd.app.tar.gz", ExecInArchive: "osquery.app/Contents/MacOS/osqueryd"}},
		{"linux", desktopFor("linux", "stable"), Component{Name: component.Desktop, Channel: "stable", FileName: "desktop.tar.gz",
			ExecInArchive: "fleet-desktop/fleet-desktop", ExecCheck: []string{"--help"}}},
		{"windows", desktopFor("windows", "stable"), Component{Name: component.Desktop, Channel: "stable", FileName: "fleet-desktop.exe", ExecCheck: []string{"--help"}}},
		{"darwin", desktopFor("darwin", "stable"), Component{Name: component.Desktop, Channel: "stable", FileName: "desktop.app.tar.gz",
			ExecInArchive: "Fleet Desktop.app/Contents/MacOS/fleet-desktop", ExecCheck: []string{"--help"}}},
	} {
		g, w := tc.got, tc.want
		if g.Name != w.Name || g.Channel != w.Channel || g.FileName != w.FileName || g.ExecInArchive != w.ExecInArchive ||
			g.Platform != w.Platform || !slices.Equal(g.ExecCheck, w.ExecCheck) || g.SelfUpdate != w.SelfUpdate {
			t.Errorf("%s: %+v, want %+v", tc.goos, g, w)
		}
		if err := g.Validate(); err != nil {
			t.Errorf("%s %s: %v", tc.goos, g.Name, err)
		}
	}
	if got := (Component{}).execCheck(); !slices.Equal(got, []string{"--version"}) {
		t.Errorf("default exec check %v, want --version", got)
	}
}
