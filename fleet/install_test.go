//go:build !windows

package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbitagent/orbit/fleettest"
	"github.com/orbitagent/orbit/internal/testdir"
	"github.com/orbitagent/orbit/internal/testwait"
	"github.com/orbitagent/orbit/osquery"
)

// fakeQuerier answers pre-install queries from a table.
type fakeQuerier struct {
	mu      sync.Mutex
	answers map[string][]map[string]string
	err     error
	queries []string
}

func (q *fakeQuerier) Query(_ context.Context, sql string) ([]map[string]string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.queries = append(q.queries, sql)
	if q.err != nil {
		return nil, q.err
	}
	return q.answers[sql], nil
}

func (q *fakeQuerier) count() int { q.mu.Lock(); defer q.mu.Unlock(); return len(q.queries) }

// withPaths puts test paths into a script's "$MARKER" and "$STARTED".
func withPaths(script, marker, started string) string {
	return strings.NewReplacer("$MARKER", marker, "$STARTED", started).Replace(script)
}

func waitInstallResults(t *testing.T, e *testEnv, n int) []fleettest.SoftwareInstallResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e.srv.WaitForCalls(ctx, fleettest.CallFilter{Method: "POST", Path: PathSoftwareInstallResult, Status: 204}, n); err != nil {
		t.Fatalf("%d install results not delivered: %v\n%s", n, err, e.log.String())
	}
	return e.srv.SoftwareInstallResults()
}

func strp(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func num(p *int) string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprint(*p)
}

// noLeftovers checks that the install left no directory and no journal
// once the worker is done with it.
func noLeftovers(t *testing.T, e *testEnv) {
	t.Helper()
	testwait.For(t, "install directories removed and journal emptied", func() bool {
		entries, err := os.ReadDir(e.layout.SoftwareInstalls())
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		j, err := openJournal(e.layout.SoftwareInstallJournal())
		return len(entries) == 0 && err == nil && j.len() == 0
	})
	if st, err := os.Stat(e.layout.SoftwareInstalls()); err == nil && st.Mode().Perm() != 0o700 {
		t.Errorf("software-installs mode %v, want 0700", st.Mode().Perm())
	}
}

func TestAgentSoftwareInstalls(t *testing.T) {
	t.Parallel()
	const pkg = "PACKAGE-BYTES"
	for _, tc := range []struct {
		name      string
		scripts   bool
		in        fleettest.SoftwareInstaller
		querier   *fakeQuerier
		maxBytes  int64
		check     func(t *testing.T, r fleettest.SoftwareInstallResult, marker string)
		downloads int
	}{
		{
			name: "install and post-install run with the package", scripts: true, downloads: 1,
			in: fleettest.SoftwareInstaller{
				Filename:          "tool_1.0.deb",
				InstallScript:     `#!/bin/sh -e` + "\n" + `echo "installing $(basename "$INSTALLER_PATH")"; cat "$INSTALLER_PATH" >> "$MARKER"`,
				PostInstallScript: "echo post-install ok",
			},
			check: func(t *testing.T, r fleettest.SoftwareInstallResult, marker string) {
				if r.Status != "installed" || num(r.InstallScriptExitCode) != "0" || strp(r.InstallScriptOutput) != "installing tool_1.0.deb\n" ||
					num(r.PostInstallScriptExitCode) != "0" || strp(r.PostInstallScriptOutput) != "post-install ok\n" || r.PreInstallConditionOutput != nil {
					t.Errorf("result %+v: install %s %q post %s %q", r, num(r.InstallScriptExitCode), strp(r.InstallScriptOutput), num(r.PostInstallScriptExitCode), strp(r.PostInstallScriptOutput))
				}
				if got, _ := os.ReadFile(marker); string(got) != pkg {
					t.Errorf("install script saw package %q, want %q", got, pkg)
				}
			},
		},
		{
			name: "pre-install condition not met", scripts: true,
			in:      fleettest.SoftwareInstaller{Filename: "x.deb", PreInstallQuery: "SELECT 1 WHERE 0", InstallScript: `echo ran >> "$MARKER"`},
			querier: &fakeQuerier{},
			check: func(t *testing.T, r fleettest.SoftwareInstallResult, marker string) {
				if r.Status != "failed_install" || strp(r.PreInstallConditionOutput) != "" || r.InstallScriptExitCode != nil || r.InstallScriptOutput != nil {
					t.Errorf("result %+v, want only an empty pre-install output", r)
				}
				if _, err := os.Stat(marker); err == nil {
					t.Errorf("install script ran although the condition was not met")
				}
			},
		},
		{
			name: "pre-install condition met", scripts: true, downloads: 1,
			in:      fleettest.SoftwareInstaller{Filename: "x.deb", PreInstallQuery: "SELECT 1 AS one", InstallScript: `echo ran >> "$MARKER"`},
			querier: &fakeQuerier{answers: map[string][]map[string]string{"SELECT 1 AS one": {{"one": "1"}}}},
			check: func(t *testing.T, r fleettest.SoftwareInstallResult, marker string) {
				if r.Status != "installed" || strp(r.PreInstallConditionOutput) != `[{"one":"1"}]` || num(r.InstallScriptExitCode) != "0" {
					t.Errorf("result %+v (pre-install %q)", r, strp(r.PreInstallConditionOutput))
				}
			},
		},
		{
			name: "pre-install query fails", scripts: true,
			in:      fleettest.SoftwareInstaller{Filename: "x.deb", PreInstallQuery: "SELECT * FROM nope", InstallScript: `echo ran >> "$MARKER"`},
			querier: &fakeQuerier{err: errors.New("osquery: no such table: nope")},
			check: func(t *testing.T, r fleettest.SoftwareInstallResult, marker string) {
				if r.Status != "failed_install" || strp(r.PreInstallConditionOutput) != "" || r.InstallScriptExitCode != nil {
					t.Errorf("result %+v, want a failed empty pre-install output", r)
				}
			},
		},
		{
			name: "scripts disabled", scripts: false,
			in: fleettest.SoftwareInstaller{Filename: "x.deb", InstallScript: `echo ran >> "$MARKER"`},
			check: func(t *testing.T, r fleettest.SoftwareInstallResult, marker string) {
				if r.Status != "failed_install" || num(r.InstallScriptExitCode) != "-2" || strp(r.InstallScriptOutput) != "Scripts are disabled" || r.PostInstallScriptExitCode != nil {
					t.Errorf("result %+v", r)
				}
				if _, err := os.Stat(marker); err == nil {
					t.Errorf("install script ran with scripts disabled")
				}
			},
		},
		{
			name: "failed post-install runs the uninstall script", scripts: true, downloads: 1,
			in: fleettest.SoftwareInstaller{
				Filename: "x.deb", InstallScript: "echo installed", PostInstallScript: "echo post failed; exit 5",
				UninstallScript: `echo "rolled back $(basename "$INSTALLER_PATH")"; echo rollback >> "$MARKER"; exit 0`,
			},
			check: func(t *testing.T, r fleettest.SoftwareInstallResult, marker string) {
				want := "post failed\n" + "\nAttempting rollback by running uninstall script...\n" + "Uninstall script exit code: 0\n" + "rolled back x.deb\n"
				if r.Status != "failed_install" || num(r.PostInstallScriptExitCode) != "5" || strp(r.PostInstallScriptOutput) != want || num(r.InstallScriptExitCode) != "0" {
					t.Errorf("result post %s %q, want 5 %q", num(r.PostInstallScriptExitCode), strp(r.PostInstallScriptOutput), want)
				}
				if got, _ := os.ReadFile(marker); string(got) != "rollback\n" {
					t.Errorf("uninstall script ran %q", got)
				}
			},
		},
		{
			name: "failed install script stops there", scripts: true, downloads: 1,
			in: fleettest.SoftwareInstaller{Filename: "x.deb", InstallScript: "echo broken; exit 3", PostInstallScript: `echo ran >> "$MARKER"`},
			check: func(t *testing.T, r fleettest.SoftwareInstallResult, marker string) {
				if r.Status != "failed_install" || num(r.InstallScriptExitCode) != "3" || strp(r.InstallScriptOutput) != "broken\n" || r.PostInstallScriptExitCode != nil {
					t.Errorf("result %+v", r)
				}
				if _, err := os.Stat(marker); err == nil {
					t.Errorf("post-install ran after a failed install")
				}
			},
		},
		{
			name: "refused shebang", scripts: true, downloads: 1,
			in: fleettest.SoftwareInstaller{Filename: "x.deb", InstallScript: "#!/bin/bash\necho ran >> \"$MARKER\""},
			check: func(t *testing.T, r fleettest.SoftwareInstallResult, marker string) {
				if num(r.InstallScriptExitCode) != "-1" || !strings.Contains(strp(r.InstallScriptOutput), ErrUnsupportedInterpreter.Error()) {
					t.Errorf("result %s %q", num(r.InstallScriptExitCode), strp(r.InstallScriptOutput))
				}
			},
		},
		{
			name: "package over the size limit", scripts: true, downloads: 1, maxBytes: 4,
			in: fleettest.SoftwareInstaller{Filename: "x.deb", InstallScript: `echo ran >> "$MARKER"`},
			check: func(t *testing.T, r fleettest.SoftwareInstallResult, marker string) {
				if r.Status != "failed_install" || num(r.InstallScriptExitCode) != "-1" || !strings.HasPrefix(strp(r.InstallScriptOutput), "Installer download failed: ") {
					t.Errorf("result %s %q", num(r.InstallScriptExitCode), strp(r.InstallScriptOutput))
				}
				if _, err := os.Stat(marker); err == nil {
					t.Errorf("install ran with a refused package")
				}
			},
		},
		{
			name: "hostile package name stays in the install directory", scripts: true, downloads: 1,
			in: fleettest.SoftwareInstaller{Filename: "../../../evil.sh", InstallScript: `echo "$INSTALLER_PATH" >> "$MARKER"`},
			check: func(t *testing.T, r fleettest.SoftwareInstallResult, marker string) {
				got, _ := os.ReadFile(marker)
				p := strings.TrimSpace(string(got))
				if filepath.Base(p) != "evil.sh" || !strings.Contains(p, "software-installs") {
					t.Errorf("package written to %q", p)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(c *Config) {
				c.ScriptsEnabled = tc.scripts
				if tc.querier != nil {
					c.Querier = tc.querier
				}
				if tc.maxBytes > 0 {
					c.MaxPackageBytes = tc.maxBytes
				}
			})
			marker := filepath.Join(t.TempDir(), "marker")
			tc.in.Package = []byte(pkg)
			tc.in.InstallScript = withPaths(tc.in.InstallScript, marker, "")
			tc.in.PostInstallScript = withPaths(tc.in.PostInstallScript, marker, "")
			tc.in.UninstallScript = withPaths(tc.in.UninstallScript, marker, "")
			installID := queueInstall(t, e.srv, tc.in)
			scriptID, err := e.srv.QueueScript(hostUUID(), "echo after")
			if err != nil {
				t.Fatal(err)
			}
			e.start()
			res := waitInstallResults(t, e, 1)
			if len(res) != 1 || res[0].InstallUUID != installID {
				t.Fatalf("results %+v, want one for %s", res, installID)
			}
			tc.check(t, res[0], marker)
			if n := len(e.calls("POST", PathSoftwareInstallPackage)); n != tc.downloads {
				t.Errorf("%d downloads, want %d", n, tc.downloads)
			}
			// The script queued behind the install runs after it, without
			// waiting for a poll interval: no clock advance here.
			c := waitCall(t, e, "POST", PathScriptResult)
			if c.Body["execution_id"] != scriptID {
				t.Errorf("script result %v, want %s", c.Body, scriptID)
			}
			noLeftovers(t, e)
		})
	}
}

func TestAgentInstallWaitsForOsqueryd(t *testing.T) {
	t.Parallel()
	q := &fakeQuerier{err: fmt.Errorf("connect to osqueryd's extension socket: %w", fs.ErrNotExist)}
	e := newEnv(t, func(c *Config) { c.ScriptsEnabled = true; c.Querier = q })
	queueInstall(t, e.srv, fleettest.SoftwareInstaller{Filename: "x.deb", PreInstallQuery: "SELECT 1", InstallScript: "echo ok"})
	e.start()
	e.idle()
	for i := 1; i <= 3; i++ {
		testwait.For(t, "a pre-install query attempt per poll", func() bool { return q.count() >= i })
		e.step(30 * time.Second)
	}
	if n := len(e.calls("POST", PathSoftwareInstallResult)); n != 0 {
		t.Fatalf("%d results while osqueryd is unreachable; want none", n)
	}
	if n := strings.Count(e.log.String(), "osqueryd is not reachable"); n != 1 {
		t.Errorf("osqueryd's absence logged %d times, want once", n)
	}
	q.mu.Lock()
	q.answers, q.err = map[string][]map[string]string{"SELECT 1": {{"1": "1"}}}, nil
	q.mu.Unlock()
	e.step(30 * time.Second)
	if r := waitInstallResults(t, e, 1); r[0].Status != "installed" {
		t.Errorf("result %+v", r[0])
	}
}

func TestInstallResultSurvivesRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.ScriptsEnabled = true })
	marker := filepath.Join(t.TempDir(), "runs")
	id := queueInstall(t, e.srv, fleettest.SoftwareInstaller{Filename: "x.deb", Package: []byte("p"), InstallScript: withPaths(`echo run >> "$MARKER"; echo done`, marker, "")})
	e.srv.SetFault(PathSoftwareInstallResult, fleettest.Fault{Status: 503})
	e.start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e.srv.WaitForCall(ctx, fleettest.CallFilter{Path: PathSoftwareInstallResult, Status: 503}); err != nil {
		t.Fatal(err)
	}
	e.step(30 * time.Second) // a poll retries from the journal, still refused
	// Stop only once that retry was answered: a post still on its way
	// when the fault is cleared would be accepted behind the agent's back.
	if _, err := e.srv.WaitForCalls(ctx, fleettest.CallFilter{Path: PathSoftwareInstallResult, Status: 503}, 2); err != nil {
		t.Fatal(err)
	}
	e.stop()
	j, err := openJournal(e.layout.SoftwareInstallJournal())
	if err != nil || j.get(id) == nil || j.get(id).State != journalResult || num(j.get(id).Result.InstallScriptExitCode) != "0" {
		t.Fatalf("journal after an undelivered result: %v %+v", err, j.get(id))
	}
	if st, _ := os.Stat(e.layout.SoftwareInstallJournal()); st.Mode().Perm() != 0o600 {
		t.Errorf("journal mode %v, want 0600", st.Mode().Perm())
	}

	// orbit restarts; the server takes results again.
	e.srv.ClearFaults()
	e.srv.ResetCalls()
	e.agent = e.newAgent(func(c *Config) { c.ScriptsEnabled = true })
	e.start()
	res := waitInstallResults(t, e, 1)
	e.step(30 * time.Second)
	e.step(30 * time.Second)
	if got := e.srv.SoftwareInstallResults(); len(got) != 1 || len(res) != 1 || res[0].InstallUUID != id || strp(res[0].InstallScriptOutput) != "done\n" {
		t.Fatalf("results after the restart %+v, want exactly the journaled one\n%s", got, e.log.String())
	}
	if runs, _ := os.ReadFile(marker); string(runs) != "run\n" {
		t.Errorf("install script ran %d times", strings.Count(string(runs), "run"))
	}
	noLeftovers(t, e)
}

func TestInterruptedInstallIsReportedNotRerun(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.ScriptsEnabled = true })
	dir := t.TempDir()
	marker, started := filepath.Join(dir, "runs"), filepath.Join(dir, "started")
	id := queueInstall(t, e.srv, fleettest.SoftwareInstaller{
		Filename: "x.deb", Package: []byte("p"),
		InstallScript: withPaths(`echo run >> "$MARKER"; touch "$STARTED"; sleep 60`, marker, started), PostInstallScript: "echo never",
	})
	e.start()
	if !testwait.Poll(30*time.Second, func() bool { _, err := os.Stat(started); return err == nil }) {
		t.Fatalf("install script did not start\n%s", e.log.String())
	}
	e.stop() // orbit stops in the middle of the install
	j, _ := openJournal(e.layout.SoftwareInstallJournal())
	if en := j.get(id); en == nil || en.State != journalRunning || en.Step != stepInstall {
		t.Fatalf("journal entry %+v, want the install running", en)
	}

	e.agent = e.newAgent(func(c *Config) { c.ScriptsEnabled = true })
	e.start()
	res := waitInstallResults(t, e, 1)
	e.step(30 * time.Second)
	if len(res) != 1 || res[0].Status != "failed_install" || num(res[0].InstallScriptExitCode) != "-1" ||
		strp(res[0].InstallScriptOutput) != interruptedOutput || res[0].PostInstallScriptExitCode != nil {
		t.Fatalf("result %+v (%q), want the interrupted install", res, strp(res[0].InstallScriptOutput))
	}
	if runs, _ := os.ReadFile(marker); string(runs) != "run\n" {
		t.Errorf("install script ran %d times", strings.Count(string(runs), "run"))
	}
	if got := e.srv.SoftwareInstallResults(); len(got) != 1 {
		t.Errorf("%d results, want 1", len(got))
	}
	noLeftovers(t, e)
}

func TestInstallResultRefusedForGoodIsDropped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.ScriptsEnabled = true })
	queueInstall(t, e.srv, fleettest.SoftwareInstaller{Filename: "x.deb", Package: []byte("p"), InstallScript: "echo ok"})
	e.srv.SetFault(PathSoftwareInstallResult, fleettest.Fault{Status: 404})
	e.start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e.srv.WaitForCall(ctx, fleettest.CallFilter{Path: PathSoftwareInstallResult, Status: 404}); err != nil {
		t.Fatal(err)
	}
	e.step(30 * time.Second)
	e.step(30 * time.Second)
	if n := len(e.calls("POST", PathSoftwareInstallResult)); n != 1 {
		t.Errorf("%d result posts, want 1: a 404 is not retried", n)
	}
	if n := len(e.calls("POST", PathSoftwareInstallPackage)); n != 1 {
		t.Errorf("install ran %d times", n)
	}
	noLeftovers(t, e)
}

func TestDownloadPackageName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ header, want string }{
		{`attachment;filename="tool_1.0_amd64.deb"`, "tool_1.0_amd64.deb"},
		{`attachment; filename=plain.rpm`, "plain.rpm"},
		{`attachment;filename="../../etc/cron.d/x"`, "x"},
		{`attachment;filename="a\b.msi"`, "b.msi"},
		{`attachment;filename="with "quote".pkg"`, `with "quote".pkg`},
		{`attachment;filename=".."`, "installer"},
		{`attachment;filename=""`, "installer"},
		{`attachment;filename="c:evil"`, "installer"},
		{"attachment;filename=\"a\x01b\"", "installer"},
		{"", "installer"},
		{`attachment;filename="` + strings.Repeat("a", 300) + `"`, "installer"},
	} {
		if got := packageFileName(tc.header); got != tc.want {
			t.Errorf("packageFileName(%q) = %q, want %q", tc.header, got, tc.want)
		}
	}
}

func TestDownloadPackageChecksHash(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.start()
	e.idle()
	inst, err := e.srv.AddSoftwareInstaller(fleettest.SoftwareInstaller{Filename: "x.deb", Package: []byte("hello")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.QueueSoftwareInstall(hostUUID(), inst); err != nil {
		t.Fatal(err)
	}
	const helloSHA = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	for _, tc := range []struct {
		sha  string
		want error
	}{
		{helloSHA, nil},
		{strings.Repeat("0", 64), ErrPackageHash},
		{"not-hex", ErrPackageHash},
	} {
		dir := t.TempDir()
		p, err := e.agent.client.DownloadPackage(context.Background(), inst, dir, DownloadOptions{MaxBytes: 100, SHA256: tc.sha})
		if !errors.Is(err, tc.want) {
			t.Errorf("sha %s: err %v, want %v", tc.sha, err, tc.want)
		}
		entries, _ := os.ReadDir(dir)
		if tc.want == nil && (len(entries) != 1 || filepath.Base(p) != "x.deb") || tc.want != nil && len(entries) != 0 {
			t.Errorf("sha %s: files %v, path %q", tc.sha, entries, p)
		}
	}
}

func TestJournal(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "software-installs.json")
	j, err := openJournal(path)
	if err != nil || j.len() != 0 {
		t.Fatalf("new journal: %v, %d entries", err, j.len())
	}
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	zero, five := 0, 5
	entries := []journalEntry{
		{InstallUUID: "b", State: journalRunning, Step: stepInstall, StartedAt: t0.Add(time.Minute)},
		{InstallUUID: "a", State: journalRunning, Step: stepPostInstall, StartedAt: t0,
			Result: InstallResult{InstallUUID: "a", InstallScriptExitCode: &zero, InstallScriptOutput: ptr("ok\n")}},
		{InstallUUID: "c", State: journalRunning, Step: stepUninstall, StartedAt: t0.Add(2 * time.Minute),
			Result: InstallResult{InstallUUID: "c", InstallScriptExitCode: &zero, PostInstallScriptExitCode: &five, PostInstallScriptOutput: ptr("bad" + rollbackHeader)}},
		{InstallUUID: "d", State: journalResult, StartedAt: t0.Add(3 * time.Minute), Result: InstallResult{InstallUUID: "d", InstallScriptExitCode: &zero}},
	}
	for _, en := range entries {
		if err := j.put(en); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.remove("d"); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("journal file %v, %v; want 0600", st, err)
	}
	j2, err := openJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(j2.ids(), ","); got != "a,b,c" {
		t.Fatalf("ids after reload %q, want oldest first a,b,c", got)
	}
	// What an install cut short by orbit's death reports, step by step.
	b := interrupted(*j2.get("b"))
	if num(b.InstallScriptExitCode) != "-1" || strp(b.InstallScriptOutput) != interruptedOutput || b.PostInstallScriptExitCode != nil {
		t.Errorf("interrupted install step: %+v", b)
	}
	a := interrupted(*j2.get("a"))
	if num(a.InstallScriptExitCode) != "0" || strp(a.InstallScriptOutput) != "ok\n" || num(a.PostInstallScriptExitCode) != "-1" || strp(a.PostInstallScriptOutput) != interruptedOutput {
		t.Errorf("interrupted post-install step: %+v", a)
	}
	c := interrupted(*j2.get("c"))
	if want := "bad" + rollbackHeader + "Uninstall script exit code: -1\n" + interruptedOutput; num(c.PostInstallScriptExitCode) != "5" || strp(c.PostInstallScriptOutput) != want {
		t.Errorf("interrupted uninstall step: %s %q, want 5 %q", num(c.PostInstallScriptExitCode), strp(c.PostInstallScriptOutput), want)
	}

	// Full journal: a new install is refused, an existing one updated.
	for i := 0; j2.len() < maxJournalEntries; i++ {
		if err := j2.put(journalEntry{InstallUUID: fmt.Sprintf("fill-%d", i), State: journalResult}); err != nil {
			t.Fatal(err)
		}
	}
	if err := j2.put(journalEntry{InstallUUID: "one-too-many", State: journalRunning}); err == nil {
		t.Errorf("a full journal took a new install")
	}
	if err := j2.put(journalEntry{InstallUUID: "a", State: journalResult}); err != nil {
		t.Errorf("a full journal refused to update an entry: %v", err)
	}

	// A corrupt journal is kept aside, not silently overwritten.
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	j3, err := openJournal(path)
	if err == nil || j3.len() != 0 {
		t.Errorf("corrupt journal: err %v, %d entries", err, j3.len())
	}
	if b, _ := os.ReadFile(path + ".corrupt"); string(b) != "{not json" {
		t.Errorf("corrupt journal not kept aside: %q", b)
	}
	data, _ := json.Marshal(journalFile{Version: 1, Installs: []journalEntry{{InstallUUID: "", State: journalResult}, {InstallUUID: "x", State: "bogus"}}})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if j4, err := openJournal(path); err != nil || j4.len() != 0 {
		t.Errorf("invalid entries kept: %v %d", err, j4.len())
	}
}

func TestOsqueryUnreachable(t *testing.T) {
	t.Parallel()
	dir := testdir.Short(t)
	// A stale socket: the file is there, nobody listens.
	stale := filepath.Join(dir, "stale.em")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	for _, sock := range []string{filepath.Join(dir, "missing.em"), stale} {
		c, err := osquery.NewClient(osquery.ClientConfig{Socket: sock, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Query(context.Background(), "SELECT 1")
		if err == nil || !osqueryUnreachable(err) {
			t.Errorf("%s: %v is not recognised as osqueryd not listening", filepath.Base(sock), err)
		}
	}
	if osqueryUnreachable(&osquery.QueryError{Message: "no such table: x"}) {
		t.Errorf("a query osqueryd refused counts as osqueryd unreachable")
	}
}
