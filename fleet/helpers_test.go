package fleet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/clock/clocktest"
	"github.com/orbitagent/orbit/fleettest"
	"github.com/orbitagent/orbit/internal/httpclient"
	"github.com/orbitagent/orbit/internal/logcapture"
	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/osquery"
	"github.com/orbitagent/orbit/rootdir"
	"github.com/orbitagent/orbit/status"
)

const testSecret = "enroll-s3cret-value-42"

// newFakeClock starts near real time so file mtimes stamped by the agent
// are plausible.
func newFakeClock() *clocktest.Fake { return clocktest.New(time.Now().Truncate(time.Second)) }

// testFacts is a host as osqueryd would describe it.
var testFacts = &factsSource{facts: osquery.HostFacts{HardwareUUID: "5D8C3F2A-1B2C-4D5E-8F90-A1B2C3D4E5F6",
	Hostname: "host-1", ComputerName: "host-1", Platform: "ubuntu", PlatformLike: "debian",
	OsqueryUUID: "5D8C3F2A-1B2C-4D5E-8F90-A1B2C3D4E5F6", InstanceID: "0b7a3c2e-9d1f-4e6a-8b5c-2f4e6a8b0c1d"}}

// factsSource fails its first fails calls (osqueryd not installed yet),
// then gives facts.
type factsSource struct {
	mu    sync.Mutex
	facts osquery.HostFacts
	fails int
	calls int
}

func (f *factsSource) HostFacts(context.Context) (osquery.HostFacts, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls <= f.fails {
		return osquery.HostFacts{}, fmt.Errorf("%w: bin/osqueryd missing", osquery.ErrNotInstalled)
	}
	return f.facts, nil
}

// zeroRand makes jitter zero so schedules are exact.
type zeroRand struct{}

func (zeroRand) Int64N(int64) int64 { return 0 }

// assertNoSecrets fails if any secret appears in the captured log.
func assertNoSecrets(t testing.TB, log string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(log, s) {
			t.Errorf("secret %.4s... appears in the log", s)
		}
	}
}

type restartCounter struct {
	mu sync.Mutex
	n  int
}

func (r *restartCounter) Restart() { r.mu.Lock(); r.n++; r.mu.Unlock() }
func (r *restartCounter) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

type channelRecorder struct {
	mu  sync.Mutex
	got [][3]string
}

func (c *channelRecorder) SetChannels(o, q, d string) {
	c.mu.Lock()
	c.got = append(c.got, [3]string{o, q, d})
	c.mu.Unlock()
}

func (c *channelRecorder) calls() [][3]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][3]string(nil), c.got...)
}

type extRecorder struct {
	mu  sync.Mutex
	got [][]Extension
}

func (e *extRecorder) SetExtensions(exts []Extension) {
	e.mu.Lock()
	e.got = append(e.got, exts)
	e.mu.Unlock()
}

func (e *extRecorder) calls() [][]Extension {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([][]Extension(nil), e.got...)
}

type statusRecorder struct {
	mu   sync.Mutex
	last status.Fleet
	n    int
}

func (s *statusRecorder) SetFleet(f status.Fleet) error {
	s.mu.Lock()
	s.last, s.n = f, s.n+1
	s.mu.Unlock()
	return nil
}

func (s *statusRecorder) get() status.Fleet {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// standinOsqueryd is testdata/osqueryd, built once per test binary.
func standinOsqueryd(t testing.TB) string {
	t.Helper()
	return testbin.Build(t, "./testdata/osqueryd", "osqueryd", "")
}

// testEnv is a Fleet test server plus an agent wired to it.
type testEnv struct {
	t        *testing.T
	srv      *fleettest.Server
	clk      *clocktest.Fake
	layout   rootdir.Layout
	log      *logcapture.Buffer
	restarts *restartCounter
	channels *channelRecorder
	status   *statusRecorder
	agent    *Agent
	cancel   context.CancelFunc
	done     chan error
}

func newServer(t *testing.T, clk *clocktest.Fake, mods ...func(*fleettest.Config)) *fleettest.Server {
	t.Helper()
	cfg := fleettest.Config{EnrollSecrets: []string{testSecret}, TLS: true, Clock: clk}
	for _, m := range mods {
		m(&cfg)
	}
	return fleettest.Start(t, cfg)
}

// newEnv builds an agent against a fresh server; mod adjusts its Config.
func newEnv(t *testing.T, mod func(*Config)) *testEnv {
	t.Helper()
	return newEnvServer(t, nil, mod)
}

// newEnvServer is newEnv with srvMod adjusting the server's Config.
func newEnvServer(t *testing.T, srvMod func(*fleettest.Config), mod func(*Config)) *testEnv {
	t.Helper()
	clk := newFakeClock()
	var mods []func(*fleettest.Config)
	if srvMod != nil {
		mods = append(mods, srvMod)
	}
	e := &testEnv{
		t: t, clk: clk, srv: newServer(t, clk, mods...), log: &logcapture.Buffer{},
		restarts: &restartCounter{}, channels: &channelRecorder{}, status: &statusRecorder{},
	}
	layout, err := rootdir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e.layout = layout
	e.agent = e.newAgent(mod)
	return e
}

func (e *testEnv) newAgent(mod func(*Config)) *Agent {
	e.t.Helper()
	hc, err := httpclient.New(HTTPClientConfig(httpclient.Config{CAFile: e.srv.CACertFile()}))
	if err != nil {
		e.t.Fatal(err)
	}
	cfg := Config{
		Layout:         e.layout,
		URL:            e.srv.URL(),
		EnrollSecret:   testSecret,
		HTTPClient:     hc,
		Version:        "1.2.3-test",
		RequestTimeout: 10 * time.Second,
		Clock:          e.clk,
		Rand:           zeroRand{},
		HostFacts:      testFacts,
		Restarter:      e.restarts,
		ChannelSetter:  e.channels,
		Status:         e.status,
		Logger:         zerolog.New(e.log).Level(zerolog.DebugLevel),
		ScriptsDir:     e.t.TempDir(),
	}
	if mod != nil {
		mod(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// start runs the agent until the test ends.
func (e *testEnv) start() {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.done = make(chan error, 1)
	go func() { e.done <- e.agent.Run(ctx) }()
	e.t.Cleanup(e.stop)
}

func (e *testEnv) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	select {
	case err := <-e.done:
		if !errors.Is(err, context.Canceled) {
			e.t.Errorf("Run returned %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		e.t.Error("Run did not return after cancel")
	}
	e.cancel = nil
	assertNoSecrets(e.t, e.log.String(), e.secrets()...)
}

// secrets are every value that must never be logged.
func (e *testEnv) secrets() []string {
	s := []string{testSecret}
	for _, h := range e.srv.OrbitHosts() {
		s = append(s, h.OrbitNodeKey, h.DeviceToken)
	}
	for tok := range e.srv.DeviceTokens() {
		s = append(s, tok)
	}
	for _, c := range e.srv.Calls() {
		if v, ok := c.Body["device_auth_token"].(string); ok {
			s = append(s, v)
		}
		if v, ok := c.Body["orbit_node_key"].(string); ok {
			s = append(s, v)
		}
	}
	return s
}

// idle waits until the running agent waits on its three loop timers.
func (e *testEnv) idle() { e.t.Helper(); e.clk.BlockUntil(e.t, 3) }

// step advances the clock by d and waits for the agent to settle.
func (e *testEnv) step(d time.Duration) {
	e.t.Helper()
	e.idle()
	e.clk.Advance(d)
	e.idle()
}

func (e *testEnv) calls(method, path string) []fleettest.Call {
	return e.srv.CallsMatching(fleettest.CallFilter{Method: method, Path: path})
}

func sortedKeys(m map[string]string) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}

func hostUUID() string { return testFacts.facts.HardwareUUID }

// queueInstall adds an installer and queues it for this host.
func queueInstall(t *testing.T, srv *fleettest.Server, in fleettest.SoftwareInstaller) string {
	t.Helper()
	id, err := srv.AddSoftwareInstaller(in)
	if err != nil {
		t.Fatal(err)
	}
	installID, err := srv.QueueSoftwareInstall(hostUUID(), id)
	if err != nil {
		t.Fatal(err)
	}
	return installID
}

func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }
