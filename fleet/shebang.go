package fleet

import (
	"errors"
	"regexp"
	"strings"
)

// ErrUnsupportedInterpreter is Fleet's refusal of a script's shebang, word
// for word (server/fleet/scripts.go), so the Fleet UI shows what it shows
// for its own agent.
var ErrUnsupportedInterpreter = errors.New(`Interpreter not supported. Shell scripts must run in "#!/bin/sh" or "#!/bin/zsh."`)

// shebangRule is Fleet's scriptHashbangValidation, including its "(:?"
// typo (an optional ':' before "/usr"): the server applies the same rule
// when a script is saved, so agreeing with it exactly means a script Fleet
// accepted is never refused here, and the other way round.
var shebangRule = regexp.MustCompile(`^#!\s*(:?/usr)?/bin/z?sh(?:\s*|\s+.*)$`)

// maxShebangLine bounds the first line that is looked at.
const maxShebangLine = 64 << 10

// ValidateShebang is Fleet's rule for the scripts it runs on Unix: a script
// that starts with "#!" must name /bin/sh, /bin/zsh, /usr/bin/sh or
// /usr/bin/zsh (arguments such as "-e" allowed) and is then executed
// directly; any other script runs with /bin/sh. direct reports which.
func ValidateShebang(contents string) (direct bool, err error) {
	if !strings.HasPrefix(contents, "#!") {
		return false, nil
	}
	line, _, _ := strings.Cut(contents, "\n")
	// Fleet reads the line with bufio.Scanner, which drops a trailing \r
	// and gives up on lines over 64 KiB; such a line is refused here
	// instead of executed.
	line = strings.TrimSuffix(line, "\r")
	if len(line) > maxShebangLine || !shebangRule.MatchString(line) {
		return false, ErrUnsupportedInterpreter
	}
	return true, nil
}
