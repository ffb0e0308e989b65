package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/orbitagent/orbit/fleettest"
	"github.com/orbitagent/orbit/internal/logcapture"
	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/internal/testwait"
	"github.com/orbitagent/orbit/packaging/internal/chroottest"
	"github.com/orbitagent/orbit/status"
	"github.com/orbitagent/orbit/updater/repo/s3store"
	"github.com/orbitagent/orbit/updater/repo/s3store/miniotest"
)

// how says where a README command runs.
type how int

const (
	// onHost runs in the scratch directory, in one shell session: what a
	// command exports stays for the next ones, as in a terminal.
	onHost how = iota
	// inBackground runs on the host like onHost, left running (a server,
	// orbit itself) until the test stops it with SIGTERM.
	inBackground
	// inChroot runs as root in a Debian bookworm chroot, in /root.
	inChroot
	// inCron runs a crontab line's command with sh and only the
	// environment cron gives (the crontab's variables, HOME, LOGNAME).
	inCron
	// notRun is a command this machine cannot run; why says what covers
	// it instead.
	notRun
)

// readmeStep is one command of the README, as the README shows it
// (continuation lines joined, the trailing comment dropped), under the
// "## " heading it appears in.
type readmeStep struct {
	section, cmd string
	how          how
	why          string
	// before and after run around the command (fixtures, checks); ready
	// says when a background command is up.
	before, after func(t *testing.T, r *readmeRun)
	ready         func(r *readmeRun) bool
	// stopCode is the exit status a background command ends with on
	// SIGTERM (0: it stops as asked); keep leaves it running for the steps
	// after it (a server), until the end of the test.
	stopCode int
	keep     bool
}

const (
	secIntro   = ""
	secAdmin   = "Admin: roll orbit out"
	secRelease = "Release owner: run the update repository"
	secMigrate = "Migrating from Fleet's orbit"
)

// readmeSteps is every command of README.md, in the README's order. A
// command added to or changed in the README fails the test until it is
// listed here with the way it is run, so none of them rots.
func readmeSteps() []readmeStep {
	pkgArgs := " --fleet-url https://fleet.example.com --fleet-certificate fleet-ca.pem" +
		" --enroll-secret-path enroll-secret.txt --update-url https://updates.example.com --update-roots root.json"
	return []readmeStep{
		{section: secIntro, cmd: "make demo", how: notRun, why: "`make demo` is the demo itself"},
		{section: secIntro, cmd: "make test", how: notRun, why: "`make test` is what runs this test"},
		{section: secIntro, cmd: "make build && export PATH=$PWD/build:$PATH", how: onHost},

		{section: secAdmin, cmd: "orbitctl package --type deb" + pkgArgs, how: onHost, before: addOtherPlatforms, after: wantFile("orbit_1.4.0_amd64.deb")},
		{section: secAdmin, cmd: "orbitctl package --type rpm" + pkgArgs, how: onHost, after: wantFile("orbit-1.4.0-1.x86_64.rpm")},
		{section: secAdmin, cmd: "orbitctl package --type pkg --arch arm64" + pkgArgs, how: onHost, after: wantFile("orbit-1.4.0-arm64.pkg")},
		{section: secAdmin, cmd: "orbitctl package --type msi" + pkgArgs, how: onHost, after: wantFile("orbit-1.4.0-amd64.msi")},
		{section: secAdmin, cmd: "dpkg -i orbit_1.4.0_amd64.deb", how: inChroot, before: copyPackages, after: startPackagedOrbit},
		{section: secAdmin, cmd: "/opt/orbit/bin/orbit/orbit status", how: inChroot, after: wantOutput(`(?m)^fleet: https://127\.0\.0\.1:\d+ enrolled=true`, `(?m)^osqueryd\s+running\s+\d+\s+5\.13\.1\s`)},
		{section: secAdmin, cmd: `/opt/orbit/bin/orbit/orbit status --query "SELECT time, level, message FROM fleetd_logs WHERE level = 'error'"`, how: inChroot,
			after: wantOutput(`(?m)^\(\d+ rows\)$`)},
		{section: secAdmin, cmd: "journalctl -u orbit", how: notRun,
			why: "needs journald (systemd as PID 1); what it shows is orbit's stderr, which the cmd/orbit end-to-end tests read"},
		{section: secAdmin, cmd: "dpkg --purge orbit", how: inChroot, before: stopPackagedOrbit, after: wantGone("/opt/orbit", "/etc/default/orbit")},
		{section: secAdmin, cmd: "rpm -i orbit-1.4.0-1.x86_64.rpm", how: inChroot, before: rpmInitDB, after: wantInChroot("/opt/orbit/bin/orbit/orbit", "/usr/lib/systemd/system/orbit.service")},
		{section: secAdmin, cmd: "rpm -e orbit", how: inChroot, after: wantGone("/opt/orbit", "/etc/default/orbit")},
		{section: secAdmin, cmd: "sudo installer -pkg orbit-1.4.0-arm64.pkg -target /", how: notRun,
			why: "macOS only; the pkg built above is read back with 7zz, bsdtar and cpio by packaging/pkg's tests"},
		{section: secAdmin, cmd: "sudo launchctl bootout system/com.orbitagent.orbit && sudo rm -rf /opt/orbit /Library/LaunchDaemons/com.orbitagent.orbit.plist", how: notRun,
			why: "macOS only"},
		{section: secAdmin, cmd: "sudo pkgutil --forget com.orbitagent.orbit", how: notRun, why: "macOS only"},
		{section: secAdmin, cmd: "msiexec /i orbit-1.4.0-amd64.msi /qn", how: notRun,
			why: "Windows only; Wine's msiexec runs /i and /x on an msi of the same builder in packaging/msi (TestMSIInstallUpgradeRemoveUnderWine)"},
		{section: secAdmin, cmd: "msiexec /x orbit-1.4.0-amd64.msi /qn", how: notRun, why: "Windows only; see msiexec /i"},
		{section: secAdmin, cmd: "orbit --disable-updates --osqueryd-path /usr/bin/osqueryd --osquery-config /etc/osquery/osquery.conf", how: inBackground,
			ready: standaloneResults, after: checkFluentdPath},
		{section: secAdmin, cmd: "orbitctl package --type deb --osquery-config osquery.conf --update-url https://updates.example.com --update-roots root.json", how: onHost,
			after: wantDebHolds("orbit_1.4.0_amd64.deb", "./opt/orbit/osquery.conf")},

		{section: secRelease, cmd: "export ORBIT_ROOT_PASSPHRASE=... ORBIT_TARGETS_PASSPHRASE=... ORBIT_SNAPSHOT_PASSPHRASE=... ORBIT_TIMESTAMP_PASSPHRASE=...", how: onHost},
		{section: secRelease, cmd: "orbitctl updates init --path ./tuf", how: onHost},
		{section: secRelease, cmd: "orbitctl updates roots --path ./tuf > root.json", how: onHost, after: wantFile("root.json")},
		{section: secRelease, cmd: "make build VERSION=1.4.0", how: onHost, after: osquerydRelease},
		{section: secRelease, cmd: "orbitctl updates add --path ./tuf --target build/orbit --name orbit --platform linux --version 1.4.0 -t stable -t 1.4 -t 1", how: onHost},
		{section: secRelease, cmd: "orbitctl updates add --path ./tuf --target ./osqueryd --name osqueryd --platform linux --version 5.13.1 -t stable -t 5.13 -t 5", how: onHost},
		{section: secRelease, cmd: "orbitctl updates status --path ./tuf", how: onHost, after: wantOutput(`(?m)^orbit\s+linux\s+stable\s+orbit\s+1\.4\.0\s`, `(?m)^osqueryd\s+linux\s+5\.13\s+osqueryd\s+5\.13\.1\s`)},
		{section: secRelease, cmd: "orbitctl updates verify --path ./tuf --root root.json", how: onHost, after: wantOutput(`(?m)^result: OK$`)},
		{section: secRelease, cmd: "orbitctl updates serve --path ./tuf --addr 127.0.0.1:8081", how: inBackground, ready: serving, keep: true},
		{section: secRelease, cmd: "export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... AWS_REGION=us-east-1", how: onHost, before: startMinIO},
		{section: secRelease, cmd: "orbitctl updates publish --path ./tuf --to s3://orbit-updates/repo --endpoint https://minio.example.com:9000", how: onHost, after: bucketServes},
		{section: secRelease, cmd: ". /etc/orbit-release.env && orbitctl updates timestamp --path /srv/tuf && orbitctl updates publish --path /srv/tuf --to s3://orbit-updates/repo --endpoint https://minio.example.com:9000", how: inCron,
			before: releaseEnvFile, after: timestampRenewed},
		{section: secRelease, cmd: "orbitctl updates rotate timestamp --path ./tuf", how: onHost},
		{section: secRelease, cmd: "orbitctl updates rotate root --path ./tuf", how: onHost, after: oldRootStillVerifies},

		{section: secMigrate, cmd: "orbit --fleet-url https://fleet.example.com --fleet-certificate fleet-ca.pem --enroll-secret-path enroll-secret.txt --update-url https://updates.example.com --update-roots root.json --enable-scripts --host-identifier uuid", how: inBackground,
			before: freshRoot, ready: fleetModeRunning},
	}
}

// runOrder is the order the sections run in: the admin path needs the
// release owner's repository.
var runOrder = []string{secIntro, secRelease, secAdmin, secMigrate}

// readmeCommand is a command found in README.md.
type readmeCommand struct{ section, cmd string }

// parseReadme returns the commands of the README's sh and crontab blocks,
// and the contents of the other blocks (configuration shown as is).
func parseReadme(text string) (cmds []readmeCommand, other []string, crontabEnv []string) {
	section := ""
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		if h, ok := strings.CutPrefix(lines[i], "## "); ok {
			section = h
			continue
		}
		lang, ok := strings.CutPrefix(lines[i], "```")
		if !ok {
			continue
		}
		var body []string
		for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
			body = append(body, lines[i])
		}
		switch lang {
		case "sh":
			for _, c := range shellLines(body) {
				cmds = append(cmds, readmeCommand{section, c})
			}
		case "crontab":
			for _, c := range shellLines(body) {
				if f := strings.Fields(c); len(f) > 5 && !strings.Contains(f[0], "=") {
					cmds = append(cmds, readmeCommand{section, strings.Join(f[5:], " ")})
				} else {
					crontabEnv = append(crontabEnv, c)
				}
			}
		default:
			other = append(other, strings.Join(body, "\n"))
		}
	}
	return cmds, other, crontabEnv
}

// shellLines joins continuation lines, drops comments and empty lines.
func shellLines(body []string) []string {
	var out []string
	cur := ""
	for _, l := range body {
		if strings.HasSuffix(l, `\`) {
			cur += strings.TrimSpace(strings.TrimSuffix(l, `\`)) + " "
			continue
		}
		line := strings.TrimSpace(stripComment(cur + strings.TrimSpace(l)))
		cur = ""
		if line != "" {
			out = append(out, line)
		}
	}
	return out
}

// stripComment cuts a shell comment: a # outside quotes, at the start or
// after a blank.
func stripComment(s string) string {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t'):
			return s[:i]
		}
	}
	return s
}

// readmeRun is the state of one walk through the README.
type readmeRun struct {
	t       *testing.T
	root    string // the module
	dir     string // the scratch directory, the shell's working directory
	state   string // the shell session's exported variables
	subst   *strings.Replacer
	chroot  *chroottest.Chroot
	fleet   *fleettest.Server
	minio   string // MinIO's endpoint
	serve   string // 127.0.0.1:port of `orbitctl updates serve`
	output  string // the last command's output
	bg      map[string]*bgProc
	pkgProc *bgProc // orbit started in the chroot as its unit would
	cronEnv []string
	other   []string
}

type bgProc struct {
	cmd      *exec.Cmd
	log      *logcapture.Buffer
	done     chan error
	stopCode int
}

const (
	readmeSecret = "readme-enroll-secret-5e1f"
	passphrase   = "..." // the README's placeholders, used as they are
)

// Every shell command the README shows runs here as its user paths run
// it, with the real programs: the release owner's repository (published
// to a real MinIO, its timestamp renewed by the crontab line, its keys
// rotated), the admin's four packages, the deb and the rpm installed and
// removed in a Debian chroot where the packaged orbit enrolls with a Fleet
// test server and answers `orbit status` and `--query`, standalone mode
// with results on disk, and Fleet's command line. The example addresses
// are replaced by the test's servers (listed in the log); commands this
// machine cannot run (macOS, Windows, journald) are listed with what
// covers them.
func TestReadmeCommands(t *testing.T) {
	root, readme := repoFile(t, "README.md")
	cmds, other, cronEnv := parseReadme(string(readme))
	steps := readmeSteps()
	checkStepsMatch(t, cmds, steps)
	if t.Failed() {
		return
	}
	for _, name := range []string{"orbit_1.4.0_amd64.deb", "orbit-1.4.0-1.x86_64.rpm", "orbit-1.4.0-arm64.pkg", "orbit-1.4.0-amd64.msi"} {
		if !strings.Contains(string(readme), "`"+name+"`") {
			t.Errorf("the README no longer names the package %s that this test checks", name)
		}
	}
	for _, tool := range []string{"make", "bash", "sh", "dpkg-deb", "wixl"} {
		testbin.NeedTool(t, tool)
	}

	r := &readmeRun{t: t, root: root, dir: t.TempDir(), bg: map[string]*bgProc{}, cronEnv: cronEnv, other: other}
	r.chroot = chroottest.New(t)
	r.fleet = fleettest.New(fleettest.Config{EnrollSecrets: []string{readmeSecret}, TLS: true})
	if err := r.fleet.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.fleet.Close)
	r.fixtures()
	t.Cleanup(r.stopAll)

	for _, sec := range runOrder {
		for _, s := range steps {
			if s.section != sec {
				continue
			}
			if s.how == notRun {
				t.Logf("not run: %s (%s)", s.cmd, s.why)
				continue
			}
			if s.before != nil {
				s.before(t, r)
			}
			r.run(s)
			if s.after != nil {
				s.after(t, r)
			}
			if t.Failed() {
				return
			}
		}
	}
}

// repoFile reads a file of the repository and returns the module's root.
func repoFile(t *testing.T, rel ...string) (root string, data []byte) {
	t.Helper()
	root, err := testbin.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err = os.ReadFile(filepath.Join(append([]string{root}, rel...)...))
	if err != nil {
		t.Fatal(err)
	}
	return root, data
}

// checkStepsMatch fails unless the README's commands are the steps, in
// order.
func checkStepsMatch(t *testing.T, cmds []readmeCommand, steps []readmeStep) {
	t.Helper()
	for i := 0; i < max(len(cmds), len(steps)); i++ {
		var c readmeCommand
		var s readmeStep
		if i < len(cmds) {
			c = cmds[i]
		}
		if i < len(steps) {
			s = steps[i]
		}
		if c.section != s.section || c.cmd != s.cmd {
			t.Errorf("README command %d is %q (under %q), readmeSteps lists %q (under %q): update readmeSteps in packaging/e2e/readme_linux_test.go with how the command runs",
				i+1, c.cmd, c.section, s.cmd, s.section)
			return
		}
	}
}

// fixtures are the files the README assumes the reader has: the Fleet CA
// and enroll secret from Fleet, the standalone osquery config; the shell
// session starts with a HOME of its own and orbit's root in the scratch
// directory (the README's /opt/orbit on the host).
func (r *readmeRun) fixtures() {
	t := r.t
	write := func(name string, data []byte, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(r.dir, name), data, mode); err != nil {
			t.Fatal(err)
		}
	}
	ca, err := os.ReadFile(r.fleet.CACertFile())
	if err != nil {
		t.Fatal(err)
	}
	write("fleet-ca.pem", ca, 0o644)
	write("enroll-secret.txt", []byte(readmeSecret+"\n"), 0o600)
	conf, err := os.ReadFile(filepath.Join(r.root, "testdata", "standalone", "osquery.conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf = bytes.ReplaceAll(conf, []byte("testdata/standalone"), []byte(filepath.Join(r.root, "testdata", "standalone")))
	write("osquery.conf", conf, 0o644)
	write("etc-osquery.conf", conf, 0o644)
	for _, d := range []string{"home", "root"} {
		if err := os.MkdirAll(filepath.Join(r.dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// Go's caches stay the machine's: `make build` with a fresh HOME would
	// rebuild everything and fetch every module.
	goenv, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOPATH").Output()
	if err != nil {
		t.Fatal(err)
	}
	g := strings.Split(strings.TrimSpace(string(goenv)), "\n")
	if len(g) != 3 {
		t.Fatalf("go env: %q", goenv)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	r.state = filepath.Join(r.dir, ".readme-shell")
	write(".readme-shell", []byte(fmt.Sprintf("export PATH=%q HOME=%q ORBIT_ROOT_DIR=%q GOCACHE=%q GOMODCACHE=%q GOPATH=%q\n",
		filepath.Dir(goBin)+":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", filepath.Join(r.dir, "home"),
		filepath.Join(r.dir, "root"), g[0], g[1], g[2])), 0o600)
	r.substitute()
}

// substitute maps the README's example addresses and paths to the test's.
func (r *readmeRun) substitute() {
	serve := r.serve
	if serve == "" {
		serve = "127.0.0.1:0" // until the server says where it listens
	}
	pairs := []string{
		"https://fleet.example.com", r.fleet.URL(),
		"https://updates.example.com", "http://" + serve,
		"127.0.0.1:8081", serve,
		"make build", "make -C " + r.root + " BUILD=$PWD/build build",
		"/usr/bin/osqueryd", filepath.Join(r.dir, "build", "osqueryd"),
		"/etc/osquery/osquery.conf", filepath.Join(r.dir, "etc-osquery.conf"),
		"/etc/orbit-release.env", filepath.Join(r.dir, "orbit-release.env"),
		"/srv/tuf", filepath.Join(r.dir, "tuf"),
		"/usr/local/bin", filepath.Join(r.dir, "build"),
		"AWS_ACCESS_KEY_ID=...", "AWS_ACCESS_KEY_ID=" + miniotest.AccessKey,
		"AWS_SECRET_ACCESS_KEY=...", "AWS_SECRET_ACCESS_KEY=" + miniotest.SecretKey,
	}
	if r.minio != "" {
		pairs = append(pairs, "https://minio.example.com:9000", r.minio)
	}
	r.subst = strings.NewReplacer(pairs...)
	var b strings.Builder
	for i := 0; i < len(pairs); i += 2 {
		fmt.Fprintf(&b, "\n  %s -> %s", pairs[i], pairs[i+1])
	}
	r.t.Logf("README addresses and paths replaced on the host:%s", b.String())
}

// userEnv is the test's environment without orbit's, Fleet's and AWS's
// variables: the README's shell starts as a new user's would.
func userEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ORBIT_") && !strings.HasPrefix(kv, "FLEET_") && !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return env
}

// run runs one step and keeps its output.
func (r *readmeRun) run(s readmeStep) {
	t := r.t
	t.Helper()
	switch s.how {
	case onHost:
		cmd := r.subst.Replace(s.cmd)
		script := fmt.Sprintf(". %q\ncd %q\nset -o pipefail\n%s\nrc=$?\nexport -p > %q.new && mv %q.new %q\nexit $rc\n",
			r.state, r.dir, cmd, r.state, r.state, r.state)
		c := exec.Command("bash", "-c", script)
		c.Env = userEnv()
		r.output = r.shell(s.cmd, c)
	case inCron:
		cmd := r.subst.Replace(s.cmd)
		env := []string{"HOME=" + filepath.Join(r.dir, "home"), "LOGNAME=root", "SHELL=/bin/sh", "PATH=/usr/bin:/bin"}
		for _, e := range r.cronEnv {
			env = append(env, r.subst.Replace(e))
		}
		c := exec.Command("sh", "-c", cmd)
		c.Dir, c.Env = filepath.Join(r.dir, "home"), env
		r.output = r.shell(s.cmd, c)
	case inChroot:
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		r.output = r.shell(s.cmd, r.chroot.Command(ctx, "bash", "-c", "cd /root && "+s.cmd))
	case inBackground:
		r.startBackground(s)
	}
}

func (r *readmeRun) shell(shown string, c *exec.Cmd) string {
	r.t.Helper()
	out, err := c.CombinedOutput()
	r.t.Logf("$ %s\n%s", shown, out)
	if err != nil {
		r.t.Fatalf("README command failed: %s: %v", shown, err)
	}
	return string(out)
}

func (r *readmeRun) startBackground(s readmeStep) {
	t := r.t
	cmd := r.subst.Replace(s.cmd)
	c := exec.Command("bash", "-c", fmt.Sprintf(". %q\ncd %q\nexec %s", r.state, r.dir, cmd))
	c.Env = userEnv()
	p := &bgProc{cmd: c, log: &logcapture.Buffer{}, done: make(chan error, 1), stopCode: s.stopCode}
	c.Stdout, c.Stderr = p.log, p.log
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- c.Wait() }()
	r.bg[s.cmd] = p
	t.Logf("$ %s &", s.cmd)
	deadline := time.Now().Add(90 * time.Second)
	for !s.ready(r) {
		select {
		case err := <-p.done:
			t.Fatalf("README command ended early: %s: %v\n%s", s.cmd, err, p.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("README command not ready after 90s: %s\n%s", s.cmd, p.log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if s.after != nil {
		s.after(t, r)
	}
	if !s.keep {
		r.stop(s.cmd)
	}
}

// stop ends a background command with SIGTERM, as a service manager or
// Ctrl-C would, and checks it exits as it should.
func (r *readmeRun) stop(name string) {
	t := r.t
	p := r.bg[name]
	if p == nil {
		return
	}
	code := p.stopCode
	delete(r.bg, name)
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	defer func() { t.Logf("%s: its last output lines:\n%s", name, lastLines(p.log.String(), 8)) }()
	select {
	case err := <-p.done:
		got := 0
		if ee, ok := err.(*exec.ExitError); ok {
			got = ee.ExitCode()
		} else if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if got != code {
			t.Errorf("%s ended with exit code %d on SIGTERM, want %d\n%s", name, got, code, p.log.String())
		}
		if strings.Contains(p.log.String(), readmeSecret) {
			t.Errorf("%s logged the enroll secret", name)
		}
	case <-time.After(60 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		t.Errorf("%s did not stop within 60s of SIGTERM\n%s", name, p.log.String())
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func (r *readmeRun) stopAll() {
	for name := range r.bg {
		r.stop(name)
	}
	if r.pkgProc != nil {
		stopPackagedOrbit(r.t, r)
	}
}

// orbitctl runs the release tool outside the README (fixtures), with the
// README's passphrases.
func (r *readmeRun) orbitctl(args ...string) {
	r.t.Helper()
	env := []string{"PATH=/usr/bin:/bin", "HOME=" + filepath.Join(r.dir, "home")}
	for _, role := range []string{"ROOT", "TARGETS", "SNAPSHOT", "TIMESTAMP"} {
		env = append(env, "ORBIT_"+role+"_PASSPHRASE="+passphrase)
	}
	c := exec.Command(filepath.Join(r.dir, "build", "orbitctl"), args...)
	c.Dir, c.Env = r.dir, env
	if out, err := c.CombinedOutput(); err != nil {
		r.t.Fatalf("orbitctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// The checks and fixtures around the steps.

func wantFile(names ...string) func(*testing.T, *readmeRun) {
	return func(t *testing.T, r *readmeRun) {
		for _, n := range names {
			if fi, err := os.Stat(filepath.Join(r.dir, n)); err != nil || fi.Size() == 0 {
				t.Errorf("no %s after the README command (%v)", n, err)
			}
		}
	}
}

func wantOutput(patterns ...string) func(*testing.T, *readmeRun) {
	return func(t *testing.T, r *readmeRun) {
		for _, p := range patterns {
			if !regexp.MustCompile(p).MatchString(r.output) {
				t.Errorf("the output does not match %s:\n%s", p, r.output)
			}
		}
	}
}

func wantInChroot(paths ...string) func(*testing.T, *readmeRun) {
	return func(t *testing.T, r *readmeRun) {
		for _, p := range paths {
			if _, err := os.Lstat(r.chroot.Path(p)); err != nil {
				t.Errorf("%s is not installed: %v", p, err)
			}
		}
	}
}

func wantGone(paths ...string) func(*testing.T, *readmeRun) {
	return func(t *testing.T, r *readmeRun) {
		for _, p := range paths {
			if _, err := os.Lstat(r.chroot.Path(p)); err == nil {
				t.Errorf("%s is still there after the uninstall", p)
			}
		}
	}
}

func wantDebHolds(deb, path string) func(*testing.T, *readmeRun) {
	return func(t *testing.T, r *readmeRun) {
		out, err := exec.Command("dpkg-deb", "--contents", filepath.Join(r.dir, deb)).CombinedOutput()
		if err != nil || !strings.Contains(string(out), " "+path+"\n") {
			t.Errorf("%s does not hold %s (%v):\n%s", deb, path, err, out)
		}
	}
}

// osquerydRelease is the osqueryd the release owner publishes: osquery's
// own build of 5.13.1, here the stand-in reporting that version.
func osquerydRelease(t *testing.T, r *readmeRun) {
	data, err := os.ReadFile(testbin.Build(t, "./testdata/osqueryd", "osqueryd", "-X main.version=5.13.1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.dir, "osqueryd"), data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// addOtherPlatforms publishes the macOS and Windows components the pkg
// and the msi bundle (docs/packaging.md's table; small programs of the
// right format, since nothing runs them here).
func addOtherPlatforms(t *testing.T, r *readmeRun) {
	prog := func(goos, arch string) string {
		return testbin.BuildFor(t, "./packaging/testdata/winhello", "hello-"+goos+"-"+arch, goos, arch)
	}
	mac := prog("darwin", "arm64")
	data, err := os.ReadFile(mac)
	if err != nil {
		t.Fatal(err)
	}
	app := filepath.Join(r.dir, "osqueryd.app.tar.gz")
	if err := os.WriteFile(app, testbin.TarGz(t, map[string][]byte{"osquery.app/Contents/MacOS/osqueryd": data}), 0o644); err != nil {
		t.Fatal(err)
	}
	win := prog("windows", "amd64")
	for _, a := range [][]string{
		{"--name", "orbit", "--platform", "macos", "--version", "1.4.0", "--target", mac, "--file-name", "orbit"},
		{"--name", "osqueryd", "--platform", "macos-app", "--version", "5.13.1", "--target", app},
		{"--name", "orbit", "--platform", "windows", "--version", "1.4.0", "--target", win, "--file-name", "orbit.exe"},
		{"--name", "osqueryd", "--platform", "windows", "--version", "5.13.1", "--target", win, "--file-name", "osqueryd.exe"},
	} {
		r.orbitctl(append([]string{"updates", "add", "--path", "./tuf", "-t", "stable"}, a...)...)
	}
}

func copyPackages(t *testing.T, r *readmeRun) {
	for _, n := range []string{"orbit_1.4.0_amd64.deb", "orbit-1.4.0-1.x86_64.rpm"} {
		r.chroot.Copy(t, filepath.Join(r.dir, n), "/root/"+n)
	}
}

// startPackagedOrbit runs the installed orbit as its unit does (systemd
// is not PID 1 here): /etc/default/orbit's variables, the stable path.
func startPackagedOrbit(t *testing.T, r *readmeRun) {
	ctx, cancel := context.WithCancel(context.Background())
	c := r.chroot.Command(ctx, "sh", "-c", "set -a; . /etc/default/orbit; set +a; exec /opt/orbit/bin/orbit/orbit")
	p := &bgProc{cmd: c, log: &logcapture.Buffer{}, done: make(chan error, 1)}
	c.Stdout, c.Stderr = p.log, p.log
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGTERM) }
	c.WaitDelay = 20 * time.Second
	if err := c.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() { p.done <- c.Wait(); cancel() }()
	r.pkgProc = p
	// Up means enrolled, osqueryd running, and orbit's tables registered
	// in it (what --query asks for).
	testwait.Within(t, 90*time.Second, "the packaged orbit enrolled, osqueryd running with orbit's extension", func() bool {
		snap, err := status.Read(r.chroot.Path("/opt/orbit/state.json"))
		return err == nil && snap.Fleet != nil && snap.Fleet.Enrolled &&
			snap.Components["osqueryd"].State == "running" && snap.Components["osqueryd"].Version != "" &&
			strings.Contains(p.log.String(), `"message":"osquery extension registered"`)
	})
}

func stopPackagedOrbit(t *testing.T, r *readmeRun) {
	p := r.pkgProc
	if p == nil {
		return
	}
	r.pkgProc = nil
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("the packaged orbit ended with %v on SIGTERM\n%s", err, p.log.String())
		}
	case <-time.After(60 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		t.Errorf("the packaged orbit did not stop\n%s", p.log.String())
	}
	if strings.Contains(p.log.String(), readmeSecret) {
		t.Error("the packaged orbit logged the enroll secret")
	}
}

// rpmInitDB gives Debian's rpm a database, as an rpm distribution has.
func rpmInitDB(t *testing.T, r *readmeRun) { r.chroot.Run(t, "rpm", "--initdb") }

func standaloneResults(r *readmeRun) bool {
	fi, err := os.Stat(filepath.Join(r.dir, "root", "osquery_log", "osqueryd.results.log"))
	return err == nil && fi.Size() > 0
}

// checkFluentdPath holds the README's fluentd example to the file
// standalone orbit writes.
func checkFluentdPath(t *testing.T, r *readmeRun) {
	for _, block := range r.other {
		if !strings.Contains(block, "@type tail") {
			continue
		}
		m := regexp.MustCompile(`(?m)^\s*path (\S+)$`).FindStringSubmatch(block)
		if m == nil {
			t.Fatalf("the fluentd example has no path line:\n%s", block)
		}
		p := strings.Replace(m[1], "/opt/orbit", filepath.Join(r.dir, "root"), 1)
		if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
			t.Errorf("the fluentd example tails %s, which standalone orbit did not write (%v)", m[1], err)
		}
		return
	}
	t.Error("the README's fluentd example is gone")
}

// serving waits for the repository server's address (it listens on a
// free port, not the README's 8081) and for it to answer.
func serving(r *readmeRun) bool {
	if r.serve == "" {
		p := r.bg["orbitctl updates serve --path ./tuf --addr 127.0.0.1:8081"]
		m := regexp.MustCompile(`Serving \S+ on http://(127\.0\.0\.1:\d+)`).FindStringSubmatch(p.log.String())
		if m == nil {
			return false
		}
		r.serve = m[1]
		r.substitute()
	}
	resp, err := http.Get("http://" + r.serve + "/timestamp.json")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// startMinIO runs a real MinIO with the bucket the README publishes to,
// readable by agents (the README leaves making it to the reader).
func startMinIO(t *testing.T, r *readmeRun) {
	r.minio = miniotest.Start(t)
	r.substitute()
	ctx := context.Background()
	store, err := s3store.New(ctx, s3store.Config{Bucket: "orbit-updates", Endpoint: r.minio, Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(miniotest.AccessKey, miniotest.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	miniotest.PublicBucket(t, ctx, store.Client(), "orbit-updates")
}

func bucketGet(t *testing.T, r *readmeRun, name string) []byte {
	resp, err := http.Get(r.minio + "/orbit-updates/repo/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s from the bucket: HTTP %d", name, resp.StatusCode)
	}
	return b
}

// bucketServes checks that agents can read what was published: the
// metadata as signed, and a package built from the bucket's URL, as the
// README tells agents to use it.
func bucketServes(t *testing.T, r *readmeRun) {
	for _, name := range []string{"timestamp.json", "root.json"} {
		want, err := os.ReadFile(filepath.Join(r.dir, "tuf", "repository", name))
		if err != nil {
			t.Fatal(err)
		}
		if got := bucketGet(t, r, name); !bytes.Equal(got, want) {
			t.Errorf("the bucket's %s is not the repository's", name)
		}
	}
	r.orbitctl("package", "--type", "deb", "--update-url", r.minio+"/orbit-updates/repo", "--update-roots", "root.json",
		"--fleet-url", r.fleet.URL(), "--enroll-secret-path", "enroll-secret.txt", "--output", filepath.Join(r.dir, "from-bucket.deb"))
}

// releaseEnvFile is the root-only file the crontab line sources: the
// timestamp passphrase and the AWS variables, nothing else.
func releaseEnvFile(t *testing.T, r *readmeRun) {
	env := fmt.Sprintf("export ORBIT_TIMESTAMP_PASSPHRASE=%q\nexport AWS_ACCESS_KEY_ID=%q AWS_SECRET_ACCESS_KEY=%q AWS_REGION=us-east-1\n",
		passphrase, miniotest.AccessKey, miniotest.SecretKey)
	if err := os.WriteFile(filepath.Join(r.dir, "orbit-release.env"), []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	r.t.Logf("the crontab line's %s holds:\n%s", filepath.Join(r.dir, "orbit-release.env"), strings.ReplaceAll(env, miniotest.SecretKey, "(secret)"))
	r.output = string(bucketGet(t, r, "timestamp.json"))
}

func timestampRenewed(t *testing.T, r *readmeRun) {
	before := r.output
	local, err := os.ReadFile(filepath.Join(r.dir, "tuf", "repository", "timestamp.json"))
	if err != nil {
		t.Fatal(err)
	}
	after := bucketGet(t, r, "timestamp.json")
	if string(after) == before || !bytes.Equal(after, local) {
		t.Errorf("the crontab line did not publish a new timestamp.json")
	}
}

// oldRootStillVerifies: agents that trust the root the admins were given
// follow the rotations.
func oldRootStillVerifies(t *testing.T, r *readmeRun) {
	r.orbitctl("updates", "verify", "--path", "./tuf", "--root", "root.json")
}

// freshRoot gives Fleet's command line a root of its own.
func freshRoot(t *testing.T, r *readmeRun) {
	dir := filepath.Join(r.dir, "fleet-root")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(r.state, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fmt.Fprintf(f, "export ORBIT_ROOT_DIR=%q\n", dir)
}

func fleetModeRunning(r *readmeRun) bool {
	snap, err := status.Read(filepath.Join(r.dir, "fleet-root", "state.json"))
	return err == nil && snap.Fleet != nil && snap.Fleet.Enrolled &&
		snap.Components["osqueryd"].State == "running" && snap.Components["osqueryd"].Version == "5.13.1"
}

// The log lines docs/troubleshooting.md tells readers to grep for are the
// code's own messages, so a renamed message cannot leave the page
// grepping for nothing.
func TestTroubleshootingGrepsExactMessages(t *testing.T) {
	t.Parallel()
	root, page := repoFile(t, "docs", "troubleshooting.md")
	var code strings.Builder
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			code.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Field names are zerolog's rendering of a key the code sets.
	fields := map[string]string{`"component":"osqueryd"`: `Str("component", cfg.Name)`}
	greps := regexp.MustCompile(`grep -F '([^']+)'`).FindAllStringSubmatch(string(page), -1)
	if len(greps) < 10 {
		t.Fatalf("found %d greps in docs/troubleshooting.md: the pattern no longer matches the page", len(greps))
	}
	for _, m := range greps {
		want := m[1]
		if f, ok := fields[want]; ok {
			want = f
		}
		if !strings.Contains(code.String(), want) {
			t.Errorf("docs/troubleshooting.md greps for %q, which no product code logs", m[1])
		}
	}
}

// Every relative link of the README and docs/ leads to a file of the
// repository and, with a #fragment, to one of its headings (GitHub's
// anchors: lower case, punctuation dropped, spaces as dashes).
func TestDocLinks(t *testing.T) {
	t.Parallel()
	root, _ := repoFile(t, "README.md")
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, filepath.Join(root, "README.md"))
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	anchors := func(path string) map[string]bool {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		out := map[string]bool{}
		drop := regexp.MustCompile("[^a-z0-9 _-]")
		for _, l := range strings.Split(string(b), "\n") {
			if h, ok := strings.CutPrefix(strings.TrimLeft(l, "#"), " "); ok && strings.HasPrefix(l, "#") {
				out[strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")] = true
			}
		}
		return out
	}
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, frag, _ := strings.Cut(target, "#")
			path := page
			if file != "" {
				path = filepath.Join(filepath.Dir(page), file)
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s links to %s, which does not exist", filepath.Base(page), target)
				continue
			}
			if frag != "" && !anchors(path)[frag] {
				t.Errorf("%s links to %s, which has no heading #%s", filepath.Base(page), target, frag)
			}
		}
	}
}
