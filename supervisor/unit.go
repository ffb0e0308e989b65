package supervisor

import (
	"fmt"
	"path"
	"strings"
	"text/template"
	"unicode"
)

// SystemdUnit renders the systemd unit that `orbit service install` writes
// for cfg, without installing anything: the same template (systemdUnit, as
// serviceOptions fills it) with the same values and escaping kardianos/service
// uses, so the unit a package ships and the one service install writes never
// drift. A test holds it to what kardianos really writes.
//
// Inputs that kardianos would write into a unit that systemd reads
// differently are refused instead of rendered: control characters (a
// newline in an argument would start a new directive), and '%', '$' and '\'
// (systemd expands specifiers and variables and decodes C escapes even
// inside the quotes kardianos adds). Settings like that belong in the
// environment file.
func SystemdUnit(cfg ServiceConfig) (string, error) {
	if cfg.Name == "" {
		return "", fmt.Errorf("systemd unit: the service needs a name")
	}
	if !path.IsAbs(cfg.Executable) || path.Clean(cfg.Executable) != cfg.Executable {
		return "", fmt.Errorf("systemd unit: executable %q must be a clean absolute path", cfg.Executable)
	}
	for _, v := range append([]string{cfg.Name, cfg.Description, cfg.Executable}, cfg.Args...) {
		if err := unitSafe(v); err != nil {
			return "", fmt.Errorf("systemd unit: %w", err)
		}
	}
	script, ok := serviceOptions(cfg)["SystemdScript"].(string)
	if !ok {
		return "", fmt.Errorf("systemd unit: no systemd template in the service options")
	}
	// kardianos's template language is a subset of text/template in which
	// a bare name is a lookup; here each name is a function returning the
	// value kardianos would look up, so the very same text parses.
	args := cfg.Args
	if args == nil {
		args = []string{}
	}
	funcs := template.FuncMap{
		"Description":      func() string { return cfg.Description },
		"Name":             func() string { return cfg.Name },
		"Path":             func() string { return cfg.Executable },
		"Arguments":        func() []string { return args },
		"WorkingDirectory": func() string { return "" },
		// Same transforms as kardianos/service's cmd and cmdEscape.
		"cmd":       func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` },
		"cmdEscape": func(s string) string { return strings.ReplaceAll(s, " ", `\x20`) },
	}
	return renderServiceTemplate("systemd unit", script, funcs)
}

func unitSafe(s string) error {
	if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
		return fmt.Errorf("%q holds a control character, which would break the unit's lines", s)
	}
	if i := strings.IndexAny(s, `%$\`); i >= 0 {
		return fmt.Errorf("%q holds %q, which systemd would expand: pass it in the environment file instead", s, s[i])
	}
	return nil
}
