package packaging

import (
	"fmt"
	"strings"
)

// WindowsAgent is the agent as the msi installs it, in the install folder
// (C:\Program Files\<Vendor>\, orbit's root): the bundled components and
// trusted root, the enroll secret in a file the msi locks to SYSTEM and
// Administrators (its mode is 0600), and the Windows service, whose command
// line carries only the other settings.
type WindowsAgent struct {
	// Name is the service's name ("orbit"); DisplayName and Description
	// are what the Services console shows.
	Name, DisplayName, Description string
	// InstallDir is how the service's arguments name the install folder
	// (msi.InstallDir: the installer puts the real folder there).
	InstallDir  string
	Settings    Settings
	TrustedRoot []byte
	// Targets are the bundled components (.exe files); the service runs
	// a copy of orbit's at bin\orbit\orbit.exe, where the updater puts a
	// new orbit after a self-update.
	Targets   []Target
	RootFiles []RootFile
}

func (a WindowsAgent) join(rel string) string {
	return a.InstallDir + strings.ReplaceAll(rel, "/", `\`)
}

func (a WindowsAgent) check() error {
	if !safeNameRE.MatchString(a.Name) {
		return fmt.Errorf("windows agent: service name %q must be lowercase letters, digits, '.', '+' or '-'", a.Name)
	}
	if a.InstallDir == "" {
		return fmt.Errorf("windows agent: no install folder reference (msi.InstallDir)")
	}
	if len(a.TrustedRoot) == 0 {
		return fmt.Errorf("windows agent: no trusted TUF root: the package must carry root.json")
	}
	return nil
}

// Files returns the tree the msi installs, relative to its install folder.
func (a WindowsAgent) Files() ([]File, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	files, err := rootTree{
		join:        func(rel string) string { return rel },
		trustedRoot: a.TrustedRoot, targets: a.Targets,
		files: append(a.Settings.Files(true), a.RootFiles...), stable: "orbit.exe",
	}.build()
	if err != nil {
		return nil, fmt.Errorf("windows agent: %w", err)
	}
	return files, nil
}

// Service is the Windows service: LocalSystem, automatic start (the msi's
// ServiceInstall), running the stable orbit with the settings as flags.
func (a WindowsAgent) Service() (Service, error) {
	if err := a.check(); err != nil {
		return Service{}, err
	}
	return Service{
		Name: a.Name, DisplayName: a.DisplayName, Description: a.Description,
		Executable: "bin/orbit/orbit.exe",
		Args:       append([]string{"--root-dir=" + a.InstallDir}, a.Settings.Args(a.join)...),
	}, nil
}
