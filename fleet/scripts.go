package fleet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	// DefaultScriptTimeout is used when the config has no
	// script_execution_timeout (Fleet's default is 5 minutes).
	DefaultScriptTimeout = 5 * time.Minute
	// MaxScriptOutputRunes is how much output Fleet keeps: the last 10,000
	// characters (server/datastore/mysql/scripts.go truncateScriptResult).
	MaxScriptOutputRunes = 10000
	// ScriptsDisabledExitCode and ScriptsDisabledOutput are what Fleet's
	// orbit reports when script execution is off on the host.
	ScriptsDisabledExitCode = -2
	ScriptsDisabledOutput   = "Scripts are disabled"
	// scriptTimeoutExitCode is what Fleet's orbit reports for a script
	// killed at its timeout; the server shows it as a timeout.
	scriptTimeoutExitCode = -1
)

// scriptOutcome is a finished execution.
type scriptOutcome struct {
	output   string
	exitCode int
	runtime  time.Duration
	// execErr is a failure to run the script at all or to the end (refused
	// shebang, killed), as opposed to a non-zero exit.
	execErr error
}

// runScript writes contents to a private temporary directory under dir and
// runs it (sh on Unix, PowerShell on Windows) with timeout.
func runScript(ctx context.Context, dir, contents string, timeout time.Duration) scriptOutcome {
	runDir, err := os.MkdirTemp(dir, "orbit-script-*")
	if err != nil {
		return scriptOutcome{output: fmt.Sprintf("script execution error: create run directory: %v", err), exitCode: scriptTimeoutExitCode}
	}
	defer os.RemoveAll(runDir)
	return runScriptFile(ctx, scriptRun{dir: runDir, name: "script" + scriptExt, contents: contents, timeout: timeout})
}

// scriptRun is one script to run: the scripts from Fleet and the install,
// post-install and uninstall scripts of a software install all run through
// runScriptFile, with the same output cap, timeout and process-group kill.
type scriptRun struct {
	dir      string // an existing private directory, the working directory
	name     string // file name of the script in dir
	contents string
	timeout  time.Duration
	env      []string // added to the agent's environment
}

// runScriptFile writes the script into its directory and runs it. Output
// is bounded while it is captured and the last MaxScriptOutputRunes
// characters are kept, as Fleet keeps them.
func runScriptFile(ctx context.Context, r scriptRun) scriptOutcome {
	path := filepath.Join(r.dir, r.name)
	if err := os.WriteFile(path, []byte(r.contents), 0o700); err != nil {
		return scriptOutcome{output: fmt.Sprintf("script execution error: write script: %v", err), exitCode: scriptTimeoutExitCode}
	}

	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	out := &tailBuffer{max: utf8.UTFMax * MaxScriptOutputRunes}
	start := time.Now()
	exitCode, execErr := execScript(ctx, path, r.contents, out, append(scriptEnv(), r.env...))
	elapsed := time.Since(start)

	output := out.String()
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		exitCode = scriptTimeoutExitCode
		output += fmt.Sprintf("\nscript execution error: timed out after %s", r.timeout)
	case execErr != nil:
		output += fmt.Sprintf("\nscript execution error: %v", execErr)
	}
	return scriptOutcome{output: lastRunes(output, MaxScriptOutputRunes), exitCode: exitCode, runtime: elapsed, execErr: execErr}
}

// scriptEnv is orbit's environment without its secrets: scripts come from
// the server and their output goes back to it.
func scriptEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		u := strings.ToUpper(k)
		if strings.Contains(u, "ENROLL_SECRET") || strings.Contains(u, "PASSPHRASE") || strings.Contains(u, "NODE_KEY") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// lastRunes keeps the last n runes of s, on a valid UTF-8 boundary.
func lastRunes(s string, n int) string {
	if len(s) > utf8.UTFMax*n {
		s = s[len(s)-utf8.UTFMax*n:]
	}
	// Drop a rune cut in half by byte truncation.
	for len(s) > 0 && !utf8.RuneStart(s[0]) {
		s = s[1:]
	}
	if c := utf8.RuneCountInString(s); c > n {
		r := []rune(s)
		s = string(r[len(r)-n:])
	}
	return s
}

// tailBuffer keeps the last max bytes written, bounding memory for scripts
// that print without end.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= t.max {
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		return n, nil
	}
	if over := len(t.buf) + len(p) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

func (t *tailBuffer) String() string { return string(t.buf) }
