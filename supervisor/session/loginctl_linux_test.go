package session

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runLoginctl finds loginctl on PATH, passes the arguments as they are,
// gives it a minimal environment, and returns its stdout; a failure
// carries loginctl's own message.
func TestRunLoginctl(t *testing.T) {
	dir := t.TempDir()
	record := filepath.Join(dir, "record")
	script := "#!/bin/sh\n" +
		"printf '%s\\n' \"$@\" > '" + record + "'\n" +
		"env >> '" + record + "'\n" +
		"if [ \"$1\" = fail ]; then echo 'Failed to connect to bus: Host is down' >&2; exit 1; fi\n" +
		"echo '      2 1000 alice seat0 tty2'\n"
	if err := os.WriteFile(filepath.Join(dir, "loginctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":/usr/bin:/bin")
	t.Setenv("ORBIT_ENROLL_SECRET", "not-for-loginctl")

	out, err := runLoginctl(context.Background(), "list-sessions", "--no-legend", "--no-pager")
	if err != nil || strings.TrimSpace(string(out)) != "2 1000 alice seat0 tty2" {
		t.Fatalf("runLoginctl = %q, %v", out, err)
	}
	rec, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(rec), "list-sessions\n--no-legend\n--no-pager\n") {
		t.Errorf("loginctl got %q", rec)
	}
	if strings.Contains(string(rec), "ORBIT_ENROLL_SECRET") || !strings.Contains(string(rec), "LC_ALL=C") {
		t.Errorf("loginctl's environment %q: want a minimal one, without orbit's", rec)
	}
	_, err = runLoginctl(context.Background(), "fail")
	if err == nil || !strings.Contains(err.Error(), "Failed to connect to bus: Host is down") || !strings.Contains(err.Error(), "exit status 1") {
		t.Errorf("a failing loginctl: %v", err)
	}

	t.Setenv("PATH", t.TempDir())
	if _, err := runLoginctl(context.Background(), "list-sessions"); err == nil || !strings.Contains(err.Error(), "loginctl is not installed") {
		t.Errorf("without loginctl: %v", err)
	}
}
