//go:build !windows

package fleet

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/orbitagent/orbit/internal/testbin"
)

func TestRunScript(t *testing.T) {
	t.Setenv("ORBIT_ENROLL_SECRET", "env-secret-value")
	for _, tc := range []struct {
		name     string
		script   string
		timeout  time.Duration
		exit     int
		contains []string
		absent   []string
		runes    int
	}{
		{name: "output and exit code", script: "echo out; echo err >&2; exit 7", exit: 7, contains: []string{"out\n", "err\n"}},
		{name: "sh shebang runs directly", script: "#!/bin/sh\necho direct", exit: 0, contains: []string{"direct"}},
		{name: "unsupported interpreter", script: "#!/usr/bin/python3\nprint(1)", exit: -1, contains: []string{"\nscript execution error: validating script ", ErrUnsupportedInterpreter.Error()}},
		{name: "bash is refused as Fleet refuses it", script: "#!/bin/bash\necho ran", exit: -1, contains: []string{ErrUnsupportedInterpreter.Error()}, absent: []string{"ran"}},
		{name: "sh -e stops at the first failure", script: "#!/bin/sh -e\necho first\nfalse\necho never", exit: 1, contains: []string{"first"}, absent: []string{"never"}},
		{name: "timeout kills the group", script: "echo begin; sleep 30 & wait; echo end", timeout: 1500 * time.Millisecond, exit: -1, contains: []string{"begin", "timed out"}, absent: []string{"end"}},
		{name: "secrets scrubbed from env", script: "echo \"[$ORBIT_ENROLL_SECRET]\"", contains: []string{"[]"}, absent: []string{"env-secret-value"}},
		{name: "output keeps the last characters", script: "i=0; while [ $i -lt 4000 ]; do printf 'é123456789'; i=$((i+1)); done; echo TAIL", contains: []string{"TAIL\n"}, runes: MaxScriptOutputRunes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 30 * time.Second
			}
			out := runScript(context.Background(), t.TempDir(), tc.script, timeout)
			if out.exitCode != tc.exit {
				t.Errorf("exit code %d, want %d (output %q)", out.exitCode, tc.exit, out.output)
			}
			for _, s := range tc.contains {
				if !strings.Contains(out.output, s) {
					t.Errorf("output lacks %q: %q", s, out.output)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(out.output, s) {
					t.Errorf("output has %q", s)
				}
			}
			if tc.runes > 0 && (utf8.RuneCountInString(out.output) != tc.runes || !utf8.ValidString(out.output)) {
				t.Errorf("output has %d runes (valid %v), want %d", utf8.RuneCountInString(out.output), utf8.ValidString(out.output), tc.runes)
			}
		})
	}
}

func TestRunScriptZsh(t *testing.T) {
	testbin.NeedTool(t, "zsh")
	out := runScript(context.Background(), t.TempDir(), "#!/bin/zsh\necho \"zsh $ZSH_VERSION\"", 30*time.Second)
	if out.exitCode != 0 || !strings.HasPrefix(out.output, "zsh 5") {
		t.Errorf("zsh script: exit %d, output %q", out.exitCode, out.output)
	}
}

func TestLastRunes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abcdef", 3, "def"},
		{"ééééé", 2, "éé"},
		{"", 3, ""},
	} {
		if got := lastRunes(tc.in, tc.n); got != tc.want {
			t.Errorf("lastRunes(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestTailBuffer(t *testing.T) {
	t.Parallel()
	b := &tailBuffer{max: 5}
	for _, w := range []string{"ab", "cd", "efg", "0123456789", "xy"} {
		b.Write([]byte(w))
	}
	if b.String() != "789xy" {
		t.Errorf("tail %q, want 789xy", b.String())
	}
}
