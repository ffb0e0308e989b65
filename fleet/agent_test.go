package fleet

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orbitagent/orbit/fleettest"
	"github.com/orbitagent/orbit/internal/testwait"
	"github.com/orbitagent/orbit/osquery"
)

func waitCall(t *testing.T, e *testEnv, method, path string) fleettest.Call {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := e.srv.WaitForCall(ctx, fleettest.CallFilter{Method: method, Path: path})
	if err != nil {
		t.Fatalf("no %s %s: %v", method, path, err)
	}
	return c
}

func TestAgentEnrollsWithOsquerydFacts(t *testing.T) {
	t.Parallel()
	osqueryd := standinOsqueryd(t)
	db := filepath.Join(t.TempDir(), "osquery.db")
	e := newEnv(t, func(c *Config) {
		c.HostFacts = &osquery.HostFactsReader{Path: func() (string, error) { return osqueryd, nil }, DatabasePath: db}
	})
	e.start()
	e.idle()

	// What the stand-in reports on the daemon's database is what must
	// reach Fleet.
	out, err := exec.Command(osqueryd, "-S", "--database_path="+db, "--json", "select uuid, hostname from system_info").Output()
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]string
	if err := json.Unmarshal(out, &rows); err != nil || len(rows) != 1 {
		t.Fatalf("stand-in output %q: %v", out, err)
	}
	hosts := e.srv.OrbitHosts()
	if len(hosts) != 1 {
		t.Fatalf("%d hosts enrolled, want 1", len(hosts))
	}
	h := hosts[0]
	if h.HardwareUUID != rows[0]["uuid"] || h.Hostname != rows[0]["hostname"] || h.OsqueryIdentifier != h.HardwareUUID || h.Platform == "" {
		t.Errorf("enrolled host %+v does not match stand-in facts %v", h, rows[0])
	}
	key, err := os.ReadFile(e.layout.NodeKey())
	if err != nil {
		t.Fatal(err)
	}
	if string(key) != h.OrbitNodeKey {
		t.Errorf("node key file does not hold the key Fleet issued")
	}
	if runtime.GOOS != "windows" {
		st, _ := os.Stat(e.layout.NodeKey())
		if st.Mode().Perm() != 0o600 {
			t.Errorf("node key mode %v, want 0600", st.Mode().Perm())
		}
	}
	// Atomic write: no temporary files left beside it.
	entries, _ := os.ReadDir(e.layout.Root)
	for _, en := range entries {
		if strings.Contains(en.Name(), ".tmp-") {
			t.Errorf("temporary file %s left in root", en.Name())
		}
	}
	enroll := e.calls("POST", PathEnroll)[0]
	if ua := enroll.Header.Get("User-Agent"); ua != "orbit/1.2.3-test" {
		t.Errorf("User-Agent %q", ua)
	}
	if _, ok := enroll.Header[CapabilitiesHeader]; !ok {
		t.Errorf("enroll did not send %s", CapabilitiesHeader)
	}
	if st := e.status.get(); !st.Enrolled || st.URL != e.srv.URL() {
		t.Errorf("status %+v, want enrolled at %s", st, e.srv.URL())
	}
}

// Before osqueryd is installed the agent has no facts it can trust: it
// waits for them (without holding osqueryd back) rather than enroll with a
// UUID osqueryd may never report.
func TestAgentWaitsForOsquerydsHostFacts(t *testing.T) {
	t.Parallel()
	src := &factsSource{facts: testFacts.facts, fails: 4}
	e := newEnv(t, func(c *Config) { c.HostFacts = src; c.HostIdentifier = "instance" })
	e.start()
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		if got := e.clk.WaitTimer(t); got != want {
			t.Fatalf("wait %d: %s, want %s", i+1, got, want)
		}
		if n := len(e.calls("POST", PathEnroll)); n != 0 {
			t.Fatalf("enrolled %d times without osqueryd's facts", n)
		}
		if i == 0 {
			select {
			case <-e.agent.Ready():
			default:
				t.Fatal("osqueryd held back while the agent waits for its facts")
			}
			if st := e.status.get(); st.Enrolled || !strings.Contains(st.LastError, "waiting for host facts") {
				t.Fatalf("status %+v while waiting", st)
			}
		}
		e.clk.Advance(want)
	}
	e.idle()
	hosts := e.srv.OrbitHosts()
	if len(hosts) != 1 || hosts[0].HardwareUUID != src.facts.HardwareUUID || hosts[0].OsqueryIdentifier != src.facts.InstanceID {
		t.Fatalf("hosts %+v, want the facts once osqueryd gave them, with its instance id", hosts)
	}
	if n := strings.Count(e.log.String(), "waiting for osqueryd's host facts before enrolling"); n != 4 {
		t.Fatalf("%d waiting lines, want 4 (one warning, then debug)", n)
	}
	if n := strings.Count(e.log.String(), `"level":"warn","component":"fleet","error":"osqueryd is not installed yet`); n != 1 {
		t.Fatalf("%d warnings about the wait, want 1:\n%s", n, e.log.String())
	}
}

func TestAgentEnrollBackoffAndWrongSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.EnrollSecret = "wrong-secret-value" })
	select {
	case <-e.agent.Ready():
		t.Fatal("Ready before the agent ran")
	default:
	}
	e.start()
	// Each failure leaves the agent waiting on one backoff timer.
	var gaps []time.Duration
	for i := 0; i < 8; i++ {
		e.clk.BlockUntil(t, 1)
		if i == 0 {
			select {
			case <-e.agent.Ready():
			default:
				t.Fatal("Ready not closed after a failed enroll: osqueryd would wait for an unreachable Fleet")
			}
		}
		if n := len(e.calls("POST", PathEnroll)); n != i+1 {
			t.Fatalf("after %d waits: %d enroll calls, want %d (no tight loop)", i, n, i+1)
		}
		d := e.clk.NextDeadline().Sub(e.clk.Now())
		gaps = append(gaps, d)
		e.clk.Advance(d)
	}
	want := []time.Duration{10, 20, 40, 80, 160, 300, 300, 300}
	for i, g := range gaps {
		if g != want[i]*time.Second {
			t.Errorf("retry %d after %s, want %ds", i+1, g, want[i])
		}
	}
	log := e.log.String()
	if !strings.Contains(log, "check --enroll-secret") {
		t.Errorf("wrong secret not explained in log")
	}
	// Rate-limited: six failures logged at error level, the rest quiet.
	if n := strings.Count(log, `"attempt":`); n != 6 {
		t.Errorf("enroll failure logged %d times in 8 attempts, want 6", n)
	}
	if st := e.status.get(); st.Enrolled || !strings.Contains(st.LastError, "enroll secret") {
		t.Errorf("status %+v, want not enrolled with an enroll secret error", st)
	}
	assertNoSecrets(t, log, "wrong-secret-value")
}

func TestAgentFlags(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	if err := e.srv.SetStartupFlags(map[string]any{
		"distributed_interval": 7, "verbose": true, "logger_min_status": 1.0,
		"database_path": "/tmp/evil", "host_identifier": "hostname", "--pidfile": "/tmp/x",
		"tls_hostname": "a\n--extensions_autoload=/tmp/evil",
	}); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.idle()
	select {
	case <-e.agent.Ready():
	default:
		t.Fatal("Ready not closed after the first config")
	}
	want := "--distributed_interval=7\n--logger_min_status=1\n--verbose=true\n"
	got, err := os.ReadFile(e.layout.OsqueryFlags())
	if err != nil || string(got) != want {
		t.Fatalf("osquery.flags = %q (%v), want %q", got, err, want)
	}
	if n := e.restarts.count(); n != 1 {
		t.Fatalf("Restart called %d times, want 1", n)
	}
	st1, _ := os.Stat(e.layout.OsqueryFlags())

	// Same config: no write, no restart.
	for i := 0; i < 3; i++ {
		e.step(30 * time.Second)
	}
	if n := len(e.calls("POST", PathConfig)); n != 4 {
		t.Fatalf("%d config polls, want 4", n)
	}
	st2, _ := os.Stat(e.layout.OsqueryFlags())
	if !os.SameFile(st1, st2) || e.restarts.count() != 1 {
		t.Errorf("unchanged config rewrote the file or restarted osqueryd (restarts %d)", e.restarts.count())
	}

	// Changed flags: rewritten once, one restart.
	if err := e.srv.SetStartupFlags(map[string]any{"distributed_interval": 60}); err != nil {
		t.Fatal(err)
	}
	e.step(30 * time.Second)
	e.step(30 * time.Second)
	got, _ = os.ReadFile(e.layout.OsqueryFlags())
	if string(got) != "--distributed_interval=60\n" || e.restarts.count() != 2 {
		t.Errorf("after change: %q, restarts %d; want one rewrite and 2 restarts", got, e.restarts.count())
	}

	log := e.log.String()
	// A key that is no flag name is logged quoted ("--pidfile").
	for _, name := range []string{"database_path", "host_identifier", `\"--pidfile\"`, "tls_hostname"} {
		if n := strings.Count(log, `"flag":"`+name+`"`); n != 1 {
			t.Errorf("refused flag %s logged %d times, want once", name, n)
		}
	}
	if strings.Contains(log, "/tmp/evil") {
		t.Errorf("refused flag value logged")
	}
}

func TestAgentChannelsAndCache(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.srv.SetUpdateChannels("edge", "5.12.1", "stable")
	if err := e.srv.SetStartupFlags(map[string]any{"verbose": true}); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.idle()
	e.step(30 * time.Second)
	if got := e.channels.calls(); len(got) != 1 || got[0] != [3]string{"edge", "5.12.1", "stable"} {
		t.Fatalf("channel setter calls %v, want exactly one with edge/5.12.1/stable", got)
	}
	cache, err := os.ReadFile(e.layout.FleetConfigCache())
	if err != nil || !strings.Contains(string(cache), `"osqueryd":"5.12.1"`) {
		t.Fatalf("config cache %q (%v) lacks the channels", cache, err)
	}
	e.stop()

	// Restart with the server down and the flags file gone: the cache
	// restores both.
	restarts := e.restarts.count()
	e.channels = &channelRecorder{}
	e.agent = e.newAgent(func(c *Config) { c.ChannelSetter = e.channels })
	e.srv.Close()
	if err := os.Remove(e.layout.OsqueryFlags()); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.idle()
	if got := e.channels.calls(); len(got) != 1 || got[0] != [3]string{"edge", "5.12.1", "stable"} {
		t.Errorf("with server down, channel setter got %v", got)
	}
	if got, _ := os.ReadFile(e.layout.OsqueryFlags()); string(got) != "--verbose=true\n" {
		t.Errorf("with server down, osquery.flags = %q", got)
	}
	if e.restarts.count() != restarts+1 {
		t.Errorf("restored flags should restart osqueryd once")
	}
	if st := e.status.get(); !strings.Contains(st.LastError, "config") {
		t.Errorf("status %+v should report the unreachable server", st)
	}
}

func TestAgentScripts(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("scripts are sh here; the Windows runner uses PowerShell")
	}
	t.Parallel()
	for _, tc := range []struct {
		name    string
		enabled bool
	}{{"enabled", true}, {"disabled", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(c *Config) { c.ScriptsEnabled = tc.enabled })
			marker := e.t.TempDir() + "/runs"
			e.srv.AddScript("exec-1", "echo run >> "+marker+"\necho hello\nexit 3\n")
			e.srv.AddScript("exec-2", "i=0; while [ $i -lt 3000 ]; do echo 0123456789; i=$((i+1)); done; echo END")
			e.start()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// Fleet activates a host's queue one item at a time: exec-2 is
			// listed only on the config poll after exec-1's result.
			if _, err := e.srv.WaitForCalls(ctx, fleettest.CallFilter{Method: "POST", Path: PathScriptResult}, 1); err != nil {
				t.Fatal(err)
			}
			e.step(30 * time.Second)
			if _, err := e.srv.WaitForCalls(ctx, fleettest.CallFilter{Method: "POST", Path: PathScriptResult}, 2); err != nil {
				t.Fatal(err)
			}
			// More polls: Fleet no longer lists them; nothing runs twice.
			for i := 0; i < 3; i++ {
				e.step(30 * time.Second)
			}
			res := map[string]fleettest.ScriptResult{}
			for _, r := range e.srv.ScriptResults() {
				if _, dup := res[r.ExecutionID]; dup {
					t.Errorf("result for %s posted twice", r.ExecutionID)
				}
				res[r.ExecutionID] = r
			}
			runs, _ := os.ReadFile(marker)
			if !tc.enabled {
				for _, id := range []string{"exec-1", "exec-2"} {
					if r := res[id]; r.ExitCode != -2 || r.Output != "Scripts are disabled" {
						t.Errorf("%s: %+v, want -2 'Scripts are disabled'", id, r)
					}
				}
				if len(runs) != 0 || len(e.calls("POST", PathScriptRequest)) != 0 {
					t.Errorf("disabled scripts were fetched or run")
				}
				return
			}
			if r := res["exec-1"]; r.ExitCode != 3 || r.Output != "hello\n" || r.Timeout != 300 || r.HostID == 0 {
				t.Errorf("exec-1 result %+v", r)
			}
			if string(runs) != "run\n" {
				t.Errorf("exec-1 ran %d times", strings.Count(string(runs), "run"))
			}
			r2 := res["exec-2"]
			if len([]rune(r2.Output)) != MaxScriptOutputRunes || !strings.HasSuffix(r2.Output, "0123456789\nEND\n") || r2.ExitCode != 0 {
				t.Errorf("exec-2: %d chars, exit %d, tail %q; want the last %d chars", len([]rune(r2.Output)), r2.ExitCode, r2.Output[len(r2.Output)-20:], MaxScriptOutputRunes)
			}
		})
	}
}

func TestAgentScriptTimeout(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("sh script")
	}
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.ScriptsEnabled = true })
	e.srv.SetScriptExecutionTimeout(1)
	e.srv.AddScript("slow", "echo started; sleep 30; echo never")
	e.start()
	c := waitCall(t, e, "POST", PathScriptResult)
	if c.Body["exit_code"] != float64(-1) || !strings.Contains(c.Body["output"].(string), "started") ||
		strings.Contains(c.Body["output"].(string), "never") || c.Body["timeout"] != float64(1) {
		t.Errorf("timed-out script result %v", c.Body)
	}
}

func TestAgentDeviceToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	// Server refuses the first token registrations: nothing is written.
	e.srv.SetFault(PathDeviceToken, fleettest.Fault{Status: 500})
	e.start()
	e.idle()
	if _, err := os.Stat(e.layout.Identifier()); !os.IsNotExist(err) {
		t.Fatalf("identifier written although Fleet refused the token (err %v)", err)
	}
	e.step(30 * time.Second)
	if n := len(e.calls("POST", PathDeviceToken)); n != 2 {
		t.Fatalf("%d token attempts, want a retry per check (2)", n)
	}
	e.srv.ClearFaults()
	e.step(30 * time.Second)
	tok1, mtime1, err := readToken(e.layout.Identifier())
	if err != nil {
		t.Fatal(err)
	}
	if owner := e.srv.DeviceTokens()[tok1]; owner == "" {
		t.Fatalf("the token in the file is not the one Fleet accepted")
	}
	if runtime.GOOS != "windows" {
		st, _ := os.Stat(e.layout.Identifier())
		if st.Mode().Perm() != 0o644 {
			t.Errorf("identifier mode %v, want 0644", st.Mode().Perm())
		}
	}
	if got := e.agent.MyDeviceURL(); got != e.srv.URL()+"/device/"+tok1 || e.status.get().MyDeviceURL != got {
		t.Errorf("My device URL %q / status %q", got, e.status.get().MyDeviceURL)
	}

	// Younger than an hour: kept.
	for e.clk.Now().Sub(mtime1) < 59*time.Minute {
		e.step(30 * time.Second)
	}
	if tok, _, _ := readToken(e.layout.Identifier()); tok != tok1 {
		t.Fatalf("token rotated before its hour")
	}
	// Server down at expiry: file unchanged, retried.
	e.srv.SetFault(PathDeviceToken, fleettest.Fault{Reset: true})
	for e.clk.Now().Sub(mtime1) < 61*time.Minute {
		e.step(30 * time.Second)
	}
	if tok, mt, _ := readToken(e.layout.Identifier()); tok != tok1 || !mt.Equal(mtime1) {
		t.Fatalf("token file changed while Fleet was unreachable")
	}
	// Accepted posts only: the server records a reset call after it has
	// closed the connection, so the agent can be idle before the last
	// failed try is counted.
	accepted := func() int {
		return len(e.srv.CallsMatching(fleettest.CallFilter{Method: "POST", Path: PathDeviceToken, Status: 200}))
	}
	before := accepted()
	e.srv.ClearFaults()
	e.step(30 * time.Second)
	tok2, mtime2, err := readToken(e.layout.Identifier())
	if err != nil || tok2 == tok1 || e.srv.DeviceTokens()[tok2] == "" || !mtime2.After(mtime1) {
		t.Fatalf("token not rotated after the server came back (err %v)", err)
	}
	if after := accepted(); after != before+1 {
		t.Errorf("%d token posts accepted on recovery, want 1", after-before)
	}
	if !strings.Contains(e.status.get().MyDeviceURL, tok2) {
		t.Errorf("status still shows the old token")
	}
}

func TestAgentSurvivesFaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault fleettest.Fault
	}{
		{"down", fleettest.Fault{Reset: true}},
		{"unavailable", fleettest.Fault{Status: 503}},
		{"slow", fleettest.Fault{Delay: time.Minute}},
		{"garbage", fleettest.Fault{Malformed: true}},
		{"oversized", fleettest.Fault{OversizeMiB: 11}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Long enough that a loaded machine is not mistaken for a fault;
			// the slow fault outlasts it.
			e := newEnv(t, func(c *Config) { c.RequestTimeout = 2 * time.Second })
			e.start()
			e.idle()
			e.srv.SetFault("/api/fleet/orbit/", tc.fault)
			if err := e.srv.SetStartupFlags(map[string]any{"verbose": true}); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ {
				e.step(30 * time.Second)
			}
			if _, err := os.Stat(e.layout.OsqueryFlags()); err == nil {
				t.Fatalf("flags applied during the fault")
			}
			if st := e.status.get(); st.LastError == "" {
				t.Errorf("status shows no error during the fault")
			}
			e.srv.ClearFaults()
			e.step(30 * time.Second) // one poll after the server returns
			if got, _ := os.ReadFile(e.layout.OsqueryFlags()); string(got) != "--verbose=true\n" {
				t.Errorf("not recovered within one poll: flags %q", got)
			}
			if st := e.status.get(); st.LastError != "" {
				t.Errorf("status error %q after recovery", st.LastError)
			}
			if h := e.srv.OrbitHosts(); len(h) != 1 || h[0].Enrollments != 1 {
				t.Errorf("faults caused a re-enroll: %+v", h)
			}
		})
	}
}

func TestAgentReenrollAfterPersistent401(t *testing.T) {
	t.Parallel()
	// A 5 s poll sees many 401s in a burst, so the 45 s threshold itself
	// is pinned: a 40 s fault (401s over 30-35 s) must not re-enroll; a
	// 60 s fault (401s over 50-55 s) must, and not before 45 s of them.
	const poll = 5 * time.Second
	for _, tc := range []struct {
		name     string
		burst    time.Duration
		reenroll bool
	}{
		{"40s burst", 40 * time.Second, false},
		{"60s burst", 60 * time.Second, true},
		{"persistent", 2 * time.Minute, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(c *Config) { c.ConfigInterval = poll })
			e.start()
			e.idle()
			oldKey, _ := os.ReadFile(e.layout.NodeKey())
			e.srv.SetFault(PathConfig, fleettest.Fault{Status: 401, For: tc.burst})
			for i := 0; i < 24; i++ {
				e.step(poll)
			}
			h := e.srv.OrbitHosts()[0]
			newKey, _ := os.ReadFile(e.layout.NodeKey())
			unauth := e.srv.CallsMatching(fleettest.CallFilter{Path: PathConfig, Status: 401})
			if len(unauth) < 6 {
				t.Fatalf("only %d 401s seen: the burst did not exercise the threshold", len(unauth))
			}
			if !tc.reenroll {
				if h.Enrollments != 1 || string(newKey) != string(oldKey) {
					t.Errorf("%s of 401s re-enrolled (enrollments %d)", tc.burst, h.Enrollments)
				}
				return
			}
			if h.Enrollments < 2 || string(newKey) == string(oldKey) || string(newKey) != h.OrbitNodeKey {
				t.Fatalf("persistent 401: enrollments %d, key replaced %v", h.Enrollments, string(newKey) != string(oldKey))
			}
			enrolls := e.calls("POST", PathEnroll)
			// The server stamps the enroll with the fake clock, which the
			// test may already have moved on by one poll when the agent
			// sends it (it arms its next timer first): hence the "<=".
			gap := enrolls[1].Time.Sub(unauth[0].Time)
			if gap < 45*time.Second || gap > 45*time.Second+poll {
				t.Errorf("re-enrolled %s after the first 401, want within one poll of 45s", gap)
			}
		})
	}
}

func TestAgentDeviceTokenOldServer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.srv.SetFault(PathDeviceToken, fleettest.Fault{Status: 404})
	e.start()
	e.idle()
	for i := 0; i < 4; i++ {
		e.step(30 * time.Second)
	}
	if n := len(e.calls("POST", PathDeviceToken)); n != 1 {
		t.Errorf("%d token posts to a server without the endpoint, want 1 (no retry loop)", n)
	}
	if _, _, err := readToken(e.layout.Identifier()); err != nil {
		t.Errorf("no token on disk for the tray app: %v", err)
	}
	if e.agent.MyDeviceURL() != "" {
		t.Errorf("My device URL published although Fleet does not know the token")
	}
}

// The config's extensions reach the setter once per change, for this
// platform only, and survive a restart with the server down (the cache).
func TestAgentExtensions(t *testing.T) {
	t.Parallel()
	rec := &extRecorder{}
	e := newEnv(t, func(c *Config) { c.Extensions, c.Platform = rec, "linux" })
	e.srv.SetExtensions(map[string]fleettest.Extension{
		"hello": {Platform: "linux", Channel: "stable"}, "mac_only": {Platform: "macos", Channel: "stable"},
	})
	e.start()
	e.idle()
	want := []Extension{{Name: "hello", Platform: "linux", Channel: "stable"}}
	if got := rec.calls(); len(got) != 1 || !slices.Equal(got[0], want) {
		t.Fatalf("setter calls %+v, want one with %+v", got, want)
	}
	e.step(30 * time.Second)
	if n := len(rec.calls()); n != 1 {
		t.Fatalf("an unchanged list was set again (%d calls)", n)
	}
	e.stop()

	// Restart with the server down: the cached list is applied.
	rec2 := &extRecorder{}
	e.srv.SetFault(PathConfig, fleettest.Fault{Status: 500})
	e.agent = e.newAgent(func(c *Config) { c.Extensions, c.Platform = rec2, "linux" })
	e.start()
	testwait.Poll(testwait.Limit, func() bool { return len(rec2.calls()) != 0 })
	if got := rec2.calls(); len(got) != 1 || !slices.Equal(got[0], want) {
		t.Fatalf("after a restart with Fleet down: %+v, want the cached %+v", got, want)
	}
	// Fleet drops it: an empty list removes it.
	e.srv.ClearFaults()
	e.srv.SetExtensions(nil)
	e.step(30 * time.Second)
	e.step(30 * time.Second)
	if got := rec2.calls(); len(got) != 2 || len(got[1]) != 0 {
		t.Fatalf("after Fleet dropped it: %+v, want an empty list last", got)
	}
}
