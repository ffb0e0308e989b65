package osquery

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gen "github.com/osquery/osquery-go/gen/osquery"
	"github.com/osquery/osquery-go/plugin/table"
	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/clock/clocktest"
	"github.com/orbitagent/orbit/internal/testdir"
	"github.com/orbitagent/orbit/internal/testwait"
)

// fakeInfo is the agent's side of orbit_info in tests.
type fakeInfo struct {
	mu   sync.Mutex
	info OrbitInfo
	err  error
}

func (f *fakeInfo) OrbitInfo(context.Context) (OrbitInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.info, f.err
}

func (f *fakeInfo) setToken(tok string) {
	f.mu.Lock()
	f.info.DeviceAuthToken = tok
	f.mu.Unlock()
}

type extensionRig struct {
	osq    *standin
	ext    *Extension
	clk    *clocktest.Fake
	info   *fakeInfo
	ring   *LogRing
	logs   interface{ String() string }
	client *Client
	stop   func() error
}

// newExtensionRig starts a stand-in osqueryd, waits until it answers, and
// runs the extension actor against it with a fake clock.
func newExtensionRig(t *testing.T) *extensionRig {
	t.Helper()
	dir := testdir.Short(t)
	r := &extensionRig{osq: startStandin(t, dir, nil), clk: newFakeClock()}
	r.osq.waitAnswering(t)
	r.info = &fakeInfo{info: OrbitInfo{
		Version: "1.2.3", DeviceAuthToken: "token-one", Enrolled: true, LastRecordedError: "",
		OrbitChannel: "stable", OsquerydChannel: "edge", DesktopChannel: "beta", DesktopVersion: "1.0.1",
		ScriptsEnabled: true, UpdateURL: "https://tuf.example.com", StartedAt: r.clk.Now().Add(-90 * time.Second),
	}}
	r.ring = NewLogRing(LogRingConfig{Clock: r.clk})
	log, buf := testLogger()
	r.logs = buf
	log = log.Output(zerolog.MultiLevelWriter(buf, r.ring))
	log.Info().Str("socket", r.osq.socket).Msg("hello from orbit")
	ext, err := NewExtension(ExtensionConfig{
		Socket: r.osq.socket, Version: "1.2.3", Tables: []Table{OrbitInfoTable(r.info, r.clk), LogTable(r.ring)},
		Clock: r.clk, Logger: log, Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.ext = ext
	r.client = testClient(t, r.osq.socket)
	r.stop = runActor(t, ext.Run)
	r.waitRegistered(t, 1)
	return r
}

// waitRegistered waits for registration number n, with the actor idle in
// its check timer.
func (r *extensionRig) waitRegistered(t *testing.T, n int) int64 {
	t.Helper()
	testwait.For(t, "extension registration", func() bool {
		_, ok := r.ext.UUID()
		return ok && r.ext.registrations() >= n
	})
	r.clk.BlockUntil(t, 1)
	id, _ := r.ext.UUID()
	return id
}

func (r *extensionRig) query(t *testing.T, sql string) []map[string]string {
	t.Helper()
	rows, err := r.client.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v; osqueryd: %s", sql, err, r.osq.stderr.String())
	}
	return rows
}

func TestExtensionServesOrbitInfoAndRegistersAgainAfterOsquerydRestarts(t *testing.T) {
	t.Parallel()
	r := newExtensionRig(t)

	want := map[string]string{
		"version": "1.2.3", "device_auth_token": "token-one", "enrolled": "true", "last_recorded_error": "",
		"orbit_channel": "stable", "osqueryd_channel": "edge", "desktop_channel": "beta", "desktop_version": "1.0.1",
		"uptime": "90", "scripts_enabled": "1", "update_url": "https://tuf.example.com",
	}
	rows := r.query(t, "SELECT * FROM orbit_info")
	if len(rows) != 1 || !equalRow(rows[0], want) {
		t.Fatalf("orbit_info = %v, want %v", rows, want)
	}
	// Every query reads the source: a rotated token shows at once.
	r.info.setToken("token-two")
	if rows := r.query(t, "SELECT device_auth_token, version FROM orbit_info"); len(rows) != 1 || rows[0]["device_auth_token"] != "token-two" {
		t.Fatalf("after rotation: %v", rows)
	}
	if rows := r.query(t, "SELECT name, version FROM osquery_extensions WHERE type = 'extension'"); len(rows) != 1 ||
		rows[0]["name"] != DefaultExtensionName || rows[0]["version"] != "1.2.3" {
		t.Fatalf("osquery_extensions = %v", rows)
	}
	if rows := r.query(t, "SELECT level, message FROM fleetd_logs WHERE message = 'hello from orbit'"); len(rows) != 1 || rows[0]["level"] != "info" {
		t.Fatalf("fleetd_logs = %v", rows)
	}

	// kill -9 and a new osqueryd on the same paths: it knows no extension.
	r.osq.kill(t)
	r.osq = startStandin(t, dirOf(r.osq.socket), nil)
	r.osq.waitAnswering(t)
	if rows, err := r.client.Query(context.Background(), "SELECT * FROM orbit_info"); err == nil {
		t.Fatalf("a new osqueryd already has orbit_info: %v", rows)
	}
	r.clk.Advance(DefaultCheckInterval)
	second := r.waitRegistered(t, 2)
	rows = r.query(t, "SELECT version, device_auth_token FROM orbit_info")
	if len(rows) != 1 || rows[0]["version"] != "1.2.3" || rows[0]["device_auth_token"] != "token-two" {
		t.Fatalf("orbit_info after the restart = %v", rows)
	}
	if n := countLines(r.logs.String(), "osquery extension lost its registration"); n != 1 {
		t.Fatalf("%d 'lost its registration' lines, want 1:\n%s", n, r.logs.String())
	}

	// Stopping deregisters and removes the extension's socket.
	if err := r.stop(); err != nil {
		t.Fatalf("Run returned %v", err)
	}
	if rows := r.query(t, "SELECT name FROM osquery_extensions WHERE type = 'extension'"); len(rows) != 0 {
		t.Fatalf("still registered after stop: %v", rows)
	}
	if _, err := os.Lstat(r.osq.socket + "." + strconv.FormatInt(second, 10)); !os.IsNotExist(err) {
		t.Fatalf("extension socket left behind: %v", err)
	}
	if strings.Contains(r.logs.String(), "token-one") || strings.Contains(r.logs.String(), "token-two") {
		t.Fatalf("the log shows the device token:\n%s", r.logs.String())
	}
}

func dirOf(p string) string {
	i := strings.LastIndexByte(p, '/')
	return p[:i]
}

func equalRow(got, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			return false
		}
	}
	return true
}

// osqueryd's watcher (or anyone) dropping the registration while osqueryd
// keeps running: the next check registers again.
func TestExtensionRegistersAgainWhenDropped(t *testing.T) {
	t.Parallel()
	r := newExtensionRig(t)
	first, _ := r.ext.UUID()
	if err := r.client.deregister(context.Background(), gen.ExtensionRouteUUID(first)); err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(DefaultCheckInterval)
	r.waitRegistered(t, 2)
	if rows := r.query(t, "SELECT version FROM orbit_info"); len(rows) != 1 || rows[0]["version"] != "1.2.3" {
		t.Fatalf("orbit_info = %v", rows)
	}
}

// Started before osqueryd: one line while waiting, then it registers.
func TestExtensionWaitsForOsqueryd(t *testing.T) {
	t.Parallel()
	requireUnix(t)
	dir := testdir.Short(t)
	clk := newFakeClock()
	log, buf := testLogger()
	info := &fakeInfo{info: OrbitInfo{Version: "9.9.9"}}
	socket := dir + "/orbit-osquery.em"
	ext, err := NewExtension(ExtensionConfig{Socket: socket, Tables: []Table{OrbitInfoTable(info, clk)}, Clock: clk, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	runActor(t, ext.Run)
	for range 3 {
		clk.BlockUntil(t, 1)
		clk.Advance(DefaultRetryInterval)
	}
	clk.BlockUntil(t, 1)
	if n := countLines(buf.String(), "osquery extension not registered yet"); n != 4 {
		t.Fatalf("%d waiting lines, want 4 (one info, then debug):\n%s", n, buf.String())
	}
	if n := countLines(buf.String(), `"level":"info","error"`); n != 1 {
		t.Fatalf("%d info-level lines while waiting, want 1:\n%s", n, buf.String())
	}
	osq := startStandin(t, dir, nil)
	osq.waitAnswering(t)
	clk.Advance(DefaultRetryInterval)
	testwait.For(t, "registration", func() bool { _, ok := ext.UUID(); return ok })
	rows, err := testClient(t, socket).Query(context.Background(), "SELECT version FROM orbit_info")
	if err != nil || len(rows) != 1 || rows[0]["version"] != "9.9.9" {
		t.Fatalf("orbit_info = %v, %v", rows, err)
	}
}

// A registration under our name left by an earlier orbit is replaced.
func TestExtensionReplacesAStaleRegistration(t *testing.T) {
	t.Parallel()
	dir := testdir.Short(t)
	// A slow watcher, so osqueryd does not drop the stale entry first.
	osq := startStandin(t, dir, nil, "--extensions_interval=3600")
	osq.waitAnswering(t)
	c := testClient(t, osq.socket)
	if _, err := c.register(context.Background(), &gen.InternalExtensionInfo{Name: DefaultExtensionName}, gen.ExtensionRegistry{}); err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	log, buf := testLogger()
	ext, err := NewExtension(ExtensionConfig{Socket: osq.socket, Tables: []Table{OrbitInfoTable(&fakeInfo{}, clk)}, Clock: clk, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	runActor(t, ext.Run)
	testwait.For(t, "registration", func() bool { _, ok := ext.UUID(); return ok })
	if !strings.Contains(buf.String(), "removing a stale osquery extension registration") {
		t.Fatalf("no line about the stale registration:\n%s", buf.String())
	}
	rows, err := c.Query(context.Background(), "SELECT version FROM orbit_info")
	if err != nil || len(rows) != 1 || rows[0]["version"] != "unknown" {
		t.Fatalf("orbit_info = %v, %v", rows, err)
	}
}

func TestOrbitInfoSourceErrorFailsTheQuery(t *testing.T) {
	t.Parallel()
	r := newExtensionRig(t)
	r.info.mu.Lock()
	r.info.err = errors.New("token file unreadable")
	r.info.mu.Unlock()
	_, err := r.client.Query(context.Background(), "SELECT * FROM orbit_info")
	var qe *QueryError
	if !errors.As(err, &qe) || !strings.Contains(qe.Message, "token file unreadable") {
		t.Fatalf("err = %v, want a QueryError with the source's message", err)
	}
}

func TestOrbitInfoColumnsAreFleets(t *testing.T) {
	t.Parallel()
	want := []struct{ name, typ string }{
		{"version", "TEXT"}, {"device_auth_token", "TEXT"}, {"enrolled", "TEXT"}, {"last_recorded_error", "TEXT"},
		{"orbit_channel", "TEXT"}, {"osqueryd_channel", "TEXT"}, {"desktop_channel", "TEXT"}, {"desktop_version", "TEXT"},
		{"uptime", "BIGINT"}, {"scripts_enabled", "INTEGER"}, {"update_url", "TEXT"},
	}
	routes := OrbitInfoTable(&fakeInfo{}, nil).Routes()
	if len(routes) != len(want) {
		t.Fatalf("%d columns, want %d", len(routes), len(want))
	}
	for i, w := range want {
		if routes[i]["name"] != w.name || routes[i]["type"] != w.typ || routes[i]["id"] != "column" {
			t.Errorf("column %d = %v, want %s %s", i, routes[i], w.name, w.typ)
		}
	}
	// Uptime never goes negative, and a zero start reports 0.
	clk := newFakeClock()
	for _, started := range []time.Time{{}, clk.Now().Add(time.Hour)} {
		resp := OrbitInfoTable(&fakeInfo{info: OrbitInfo{StartedAt: started}}, clk).Call(context.Background(),
			gen.ExtensionPluginRequest{"action": "generate", "context": "{}"})
		if resp.Status.Code != 0 || resp.Response[0]["uptime"] != "0" || resp.Response[0]["enrolled"] != "false" || resp.Response[0]["scripts_enabled"] != "0" {
			t.Fatalf("started %v: %+v", started, resp)
		}
	}
}

func TestExtensionConfigValidate(t *testing.T) {
	t.Parallel()
	tbl := OrbitInfoTable(&fakeInfo{}, nil)
	cases := []struct {
		name string
		cfg  ExtensionConfig
		want string
	}{
		{"no socket", ExtensionConfig{Tables: []Table{tbl}}, "no socket"},
		{"no tables", ExtensionConfig{Socket: "/s"}, "no tables"},
		{"twice", ExtensionConfig{Socket: "/s", Tables: []Table{tbl, tbl}}, "given twice"},
		{"unnamed", ExtensionConfig{Socket: "/s", Tables: []Table{table.NewPlugin("", nil, nil)}}, "without a name"},
		{"negative", ExtensionConfig{Socket: "/s", Tables: []Table{tbl}, Timeout: -1}, "negative"},
		{"long socket path", ExtensionConfig{Socket: "/" + strings.Repeat("d", 97) + ".em", Tables: []Table{tbl}}, longPathErr},
		{"ok", ExtensionConfig{Socket: "/s", Tables: []Table{tbl}}, ""},
	}
	for _, tc := range cases {
		err := tc.cfg.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// longPathErr is the error for a socket path too long once ".<uuid>" is
// appended: none on Windows (named pipes).
var longPathErr = func() string {
	if checkSocketPath("/"+strings.Repeat("d", 200), 0) == nil {
		return ""
	}
	return "too long for a Unix socket"
}()
