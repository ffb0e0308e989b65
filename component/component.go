// Package component names the programs orbit keeps on a host (orbit
// itself, osqueryd, the tray app, next the osquery extensions) and checks
// a component name and an update channel once, for the command line, the
// updater and Fleet's config alike: both become path elements under
// <root>/bin and parts of TUF target names, so a bad one must never get
// that far.
package component

import (
	"fmt"
	"strings"
)

// Name is a component's name, the first element of its TUF targets
// (<name>/<platform>/<channel>/<file>) and of its directory under bin/.
type Name string

// The components orbit knows.
const (
	Orbit    Name = "orbit"
	Osqueryd Name = "osqueryd"
	Desktop  Name = "desktop" // the tray app (Fleet Desktop)
)

// extensionPrefix starts an osquery extension's name, as Fleet's
// repositories name them: extensions/<name>.
const extensionPrefix = "extensions/"

// Extension is the name of the osquery extension called name.
func Extension(name string) Name { return Name(extensionPrefix + name) }

// Validate accepts the known components and extensions/<name>.
func (n Name) Validate() error {
	switch n {
	case Orbit, Osqueryd, Desktop:
		return nil
	}
	if ext, ok := strings.CutPrefix(string(n), extensionPrefix); ok {
		if err := validSegment(ext); err != nil {
			return fmt.Errorf("extension name %q is not usable: %w", ext, err)
		}
		return nil
	}
	return fmt.Errorf("%q is not a component: use orbit, osqueryd, desktop or extensions/<name>", string(n))
}

// maxSegmentLen bounds a name or channel: it is a path element.
const maxSegmentLen = 64

// ValidateChannel accepts an update channel: "stable", "edge" or a
// version such as "5.12.1". Its error reads after the option's name
// ("--osqueryd-channel %w").
func ValidateChannel(ch string) error {
	if err := validSegment(ch); err != nil {
		return fmt.Errorf("%q is not a channel name: use stable, edge, or a version like 5.12 (%w)", ch, err)
	}
	return nil
}

// validSegment is the rule for one path element: letters, digits, '.',
// '-' and '_', not empty, not starting with '.', at most 64 bytes.
func validSegment(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("it is empty")
	case len(s) > maxSegmentLen:
		return fmt.Errorf("longer than %d characters", maxSegmentLen)
	case strings.HasPrefix(s, "."):
		return fmt.Errorf("it starts with a dot")
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
		default:
			return fmt.Errorf("only letters, digits, '.', '-' and '_' are allowed, not %q", r)
		}
	}
	return nil
}
