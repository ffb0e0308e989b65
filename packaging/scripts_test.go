package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The assembled script runs under sh: hooks that are set run with the
// arguments dispatch gives them, empty ones are no-ops, and a failing hook
// fails the script (set -e).
func TestMaintainerScriptRuns(t *testing.T) {
	t.Parallel()
	dispatch := `case "$1" in
configure) after_install "${2:+upgrade}" ;;
remove) before_remove ;;
esac`
	for _, tt := range []struct {
		name     string
		hooks    []Hook
		args     []string
		wantLog  string
		wantFail bool
	}{
		{"hook gets its argument", []Hook{{"after_install", `echo "after ${1:-install}" >>"$LOG"`}, {"before_remove", ""}}, []string{"configure", "1.0"}, "after upgrade\n", false},
		{"empty hook is a no-op", []Hook{{"after_install", `echo after >>"$LOG"`}, {"before_remove", ""}}, []string{"remove"}, "", false},
		{"unknown argument does nothing", []Hook{{"after_install", `echo after >>"$LOG"`}}, []string{"triggered"}, "", false},
		{"failing hook fails the script", []Hook{{"after_install", "false\necho not reached >>\"$LOG\""}}, []string{"configure"}, "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			script := filepath.Join(dir, "postinst")
			if err := os.WriteFile(script, []byte(MaintainerScript("deb postinst", dispatch, tt.hooks...)), 0o755); err != nil {
				t.Fatal(err)
			}
			log := filepath.Join(dir, "log")
			cmd := exec.Command(script, tt.args...)
			cmd.Env = append(os.Environ(), "LOG="+log)
			out, err := cmd.CombinedOutput()
			if (err != nil) != tt.wantFail {
				t.Fatalf("exit error %v, want failure %v\n%s", err, tt.wantFail, out)
			}
			got, _ := os.ReadFile(log)
			if string(got) != tt.wantLog {
				t.Errorf("hooks logged %q, want %q", got, tt.wantLog)
			}
		})
	}
}

func TestMaintainerScriptEmptyWhenNoHook(t *testing.T) {
	t.Parallel()
	if s := MaintainerScript("rpm %pre", "before_install install", Hook{"before_install", "  \n"}); s != "" {
		t.Errorf("no hook set, but got a script:\n%s", s)
	}
}

func TestScriptsCheck(t *testing.T) {
	t.Parallel()
	if err := (Scripts{AfterInstall: "systemctl start orbit\n", AfterPurge: "rm -rf /opt/orbit\n"}).Check(); err != nil {
		t.Errorf("good hooks refused: %v", err)
	}
	for _, s := range []Scripts{
		{AfterInstall: "#!/bin/sh\nsystemctl start orbit\n"},
		{BeforeRemove: "  #!/bin/bash\n"},
		{AfterPurge: "rm -rf /\x00"},
	} {
		if err := s.Check(); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("Check(%+v) = %v, want one line of error", s, err)
		}
	}
}
