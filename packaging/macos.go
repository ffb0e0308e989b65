package packaging

import (
	"fmt"
	"io/fs"
	"regexp"

	"github.com/orbitagent/orbit/supervisor"
)

// MacAgent is the agent as the macOS pkg installs it: the bundled
// components and trusted root under Root, the enroll secret in a root-only
// file beside them, and the launchd job that `orbit service install` would
// write, in /Library/LaunchDaemons/<Identifier>.plist, carrying the other
// settings as flags (the plist is world-readable).
type MacAgent struct {
	// Identifier is the launchd label (reverse-DNS).
	Identifier string
	// Root is orbit's root directory: "/opt/orbit".
	Root        string
	Settings    Settings
	TrustedRoot []byte
	// Targets are the bundled components; orbit is linked from
	// <Root>/bin/orbit/orbit, which launchd runs. osqueryd and the tray
	// app are archives (osqueryd.app.tar.gz, desktop.app.tar.gz) that
	// the updater adopts at its first start (updater.Bundle).
	Targets []Target
	// RootFiles go under Root as well (the bundle manifest).
	RootFiles []RootFile
}

var labelRE = regexp.MustCompile(`^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$`)

// PlistPath is the launchd job's definition.
func (a MacAgent) PlistPath() string { return "/Library/LaunchDaemons/" + a.Identifier + ".plist" }

func (a MacAgent) check() error {
	if !labelRE.MatchString(a.Identifier) {
		return fmt.Errorf("macos agent: identifier %q must be reverse-DNS (com.example.orbit)", a.Identifier)
	}
	if err := checkUnixRoot(a.Root); err != nil {
		return fmt.Errorf("macos agent: %w", err)
	}
	if len(a.TrustedRoot) == 0 {
		return fmt.Errorf("macos agent: no trusted TUF root: the package must carry root.json")
	}
	return nil
}

// Files returns the tree the pkg installs.
func (a MacAgent) Files() ([]File, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	join := func(rel string) string {
		if rel == "" {
			return a.Root
		}
		return a.Root + "/" + rel
	}
	files, err := rootTree{
		join: join, trustedRoot: a.TrustedRoot, targets: a.Targets,
		files: append(a.Settings.Files(true), a.RootFiles...), stable: "orbit", link: true,
	}.build()
	if err != nil {
		return nil, fmt.Errorf("macos agent: %w", err)
	}
	plist, err := supervisor.LaunchdPlist(supervisor.ServiceConfig{
		Name:       a.Identifier,
		Executable: join("bin/orbit/orbit"),
		Args:       append([]string{"--root-dir=" + a.Root}, a.Settings.Args(join)...),
	})
	if err != nil {
		return nil, fmt.Errorf("macos agent: %w", err)
	}
	return append(files,
		File{Path: a.PlistPath(), Mode: 0o644, Data: []byte(plist), Group: "wheel"},
		// launchd writes the job's output there but does not create it.
		File{Path: supervisor.LaunchdLogDir, Mode: fs.ModeDir | 0o755, Group: "wheel"},
	), nil
}

// Scripts are the pkg's hooks: postinstall (re)loads the launchd job, so
// an install starts orbit and an upgrade restarts it with the new files,
// keeping what orbit wrote under Root (node key, enroll state, updated
// components). On a volume other than the running system's (an image
// build, a target disk) nothing is loaded: launchd loads the job at that
// system's boot. The installer passes the target volume as $3 of the
// script, $4 of the hook.
func (a MacAgent) Scripts() (Scripts, error) {
	if err := a.check(); err != nil {
		return Scripts{}, err
	}
	return Scripts{AfterInstall: fmt.Sprintf(`label=%[1]s
plist=%[2]s
if [ "${4:-/}" != "/" ]; then
	echo "%[1]s: installed on $4, not the running system: launchd starts it at that system's boot"
	return 0
fi
mkdir -p %[3]s
# An older job (an upgrade, a reinstall) is unloaded first; launchd may take
# a moment to let it go before the new definition can be bootstrapped.
launchctl bootout "system/$label" 2>/dev/null || true
n=0
until launchctl bootstrap system "$plist"; do
	n=$((n + 1))
	if [ "$n" -ge 10 ]; then
		echo "%[1]s: launchctl bootstrap system $plist failed; run it by hand" >&2
		return 1
	fi
	sleep 1
done
launchctl kickstart -k "system/$label"`, a.Identifier, a.PlistPath(), supervisor.LaunchdLogDir)}, nil
}
