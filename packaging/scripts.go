package packaging

import (
	"fmt"
	"strings"
)

// Check refuses hooks no format can run: a complete script given as a
// hook (it would be pasted into a function), or a NUL byte.
func (s Scripts) Check() error {
	for _, h := range []struct{ name, body string }{
		{"BeforeInstall", s.BeforeInstall},
		{"AfterInstall", s.AfterInstall},
		{"BeforeRemove", s.BeforeRemove},
		{"AfterRemove", s.AfterRemove},
		{"AfterPurge", s.AfterPurge},
	} {
		if strings.HasPrefix(strings.TrimSpace(h.body), "#!") {
			return fmt.Errorf("scripts: %s is a complete script; give only its body (no #! line): the format's own script wraps it", h.name)
		}
		if strings.IndexByte(h.body, 0) >= 0 {
			return fmt.Errorf("scripts: %s holds a NUL byte", h.name)
		}
	}
	return nil
}

// Hook is one of Scripts under the sh function name a format's script
// calls it by.
type Hook struct {
	Func string // "after_install"
	Body string
}

// MaintainerScript assembles one of a format's scripts: a #! line, a
// comment naming the slot, set -e, each hook as an sh function, then
// dispatch, the format's decoding of its own arguments into calls of
// those functions. An empty hook becomes a no-op function, so dispatch may
// call every name it defines. When every hook is empty the result is "":
// the format then ships no script in that slot.
func MaintainerScript(slot, dispatch string, hooks ...Hook) string {
	var b strings.Builder
	some := false
	for _, h := range hooks {
		if strings.TrimSpace(h.Body) != "" {
			some = true
		}
	}
	if !some {
		return ""
	}
	fmt.Fprintf(&b, "#!/bin/sh\n# %s: the format's arguments decoded into the package's hooks.\nset -e\n\n", slot)
	for _, h := range hooks {
		body := strings.TrimRight(h.Body, "\n")
		if strings.TrimSpace(body) == "" {
			fmt.Fprintf(&b, "%s() { :; }\n\n", h.Func)
			continue
		}
		fmt.Fprintf(&b, "%s() {\n%s\n}\n\n", h.Func, body)
	}
	b.WriteString(strings.TrimRight(dispatch, "\n"))
	b.WriteString("\nexit 0\n")
	return b.String()
}
