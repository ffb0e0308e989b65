package fleet

import (
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/fleettest"
	"github.com/orbitagent/orbit/internal/loglevel"
)

const (
	levelChanged = "orbit log level changed by fleet"
	pollDebug    = "fleet config received"
)

func TestDecodeDebugLogging(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want string // "true", "false", "absent" or "error"
	}{
		{`{}`, "absent"},
		{`{"debug_logging":null}`, "absent"},
		{`{"debug_logging":true}`, "true"},
		{`{"debug_logging":false}`, "false"},
		{`{"debug_logging":"true"}`, "error"},
		{`{"notifications":{"debug_logging":true}}`, "absent"}, // not where Fleet sends it
	} {
		cfg, err := DecodeConfig([]byte(tc.in))
		got := "error"
		if err == nil {
			got = "absent"
			if cfg.DebugLogging != nil {
				got = map[bool]string{true: "true", false: "false"}[*cfg.DebugLogging]
			}
		}
		if got != tc.want {
			t.Errorf("DecodeConfig(%s): debug_logging %s, want %s", tc.in, got, tc.want)
		}
	}
	// It is never cached: a restart must not bring back a period Fleet ended.
	data, err := encodeConfigCache(&OrbitConfig{DebugLogging: new(true)})
	if err != nil || strings.Contains(string(data), "debug_logging") {
		t.Errorf("config cache carries debug_logging: %s (%v)", data, err)
	}
}

// debugEnv is an agent whose logger writes through a real loglevel.Level,
// as orbit's does, so the agent's own debug line of each poll shows the
// level in effect.
func debugEnv(t *testing.T, floor bool) (*testEnv, *loglevel.Level) {
	t.Helper()
	level := loglevel.New(floor)
	e := newEnv(t, nil)
	e.agent = e.newAgent(func(c *Config) {
		c.Logger = zerolog.New(level.Writer(e.log)).Level(zerolog.DebugLevel)
		c.LogLevel = level
	})
	return e, level
}

func TestDebugLoggingFromFleet(t *testing.T) {
	t.Parallel()
	on, off := true, false
	type step struct {
		set     *fleettest.DebugLogging // nil: leave the server as it is
		advance time.Duration           // before the poll (default one interval)
		debug   bool                    // level in effect after the poll
		changes int                     // level-change lines so far
	}
	absent := &fleettest.DebugLogging{}
	for _, tc := range []struct {
		name  string
		floor bool
		steps []step
	}{
		{name: "true, false, absent", steps: []step{
			{set: absent, debug: false, changes: 0}, // an old server: nothing happens
			{set: &fleettest.DebugLogging{Value: &on}, debug: true, changes: 1},
			{debug: true, changes: 1}, // sent again: no second line
			{set: &fleettest.DebugLogging{Value: &off}, debug: false, changes: 2},
			{debug: false, changes: 2},
			{set: &fleettest.DebugLogging{Value: &on}, debug: true, changes: 3},
			{set: absent, debug: false, changes: 4}, // Fleet omits the field when the period is over
			{debug: false, changes: 4},
		}},
		{name: "the server's period ends", steps: []step{
			{set: &fleettest.DebugLogging{Value: &on, Duration: 90 * time.Second}, debug: true, changes: 1},
			{debug: true, changes: 1},
			{debug: true, changes: 1},
			{debug: false, changes: 2}, // 90 s after it was set
			{debug: false, changes: 2},
		}},
		{name: "--debug is a floor", floor: true, steps: []step{
			{set: absent, debug: true},
			{set: &fleettest.DebugLogging{Value: &on}, debug: true},
			{set: &fleettest.DebugLogging{Value: &off}, debug: true},
			{set: absent, debug: true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, level := debugEnv(t, tc.floor)
			hw := hostUUID()
			for i, s := range tc.steps {
				if s.set != nil {
					if err := e.srv.SetDebugLogging(hw, *s.set); err != nil {
						t.Fatal(err)
					}
				}
				before := strings.Count(e.log.String(), pollDebug)
				if i == 0 {
					e.start() // the first poll is at start
					e.idle()
				} else {
					e.step(30 * time.Second)
				}
				log := e.log.String()
				if level.Debug() != s.debug {
					t.Errorf("step %d: debug %v, want %v", i, level.Debug(), s.debug)
				}
				if got := strings.Count(log, pollDebug) > before; got != s.debug {
					t.Errorf("step %d: the poll's debug line written %v, want %v", i, got, s.debug)
				}
				if n := strings.Count(log, levelChanged); n != s.changes {
					t.Errorf("step %d: %d level-change lines, want %d", i, n, s.changes)
				}
			}
			// Each change is one info line saying which way and why.
			for _, line := range strings.Split(e.log.String(), "\n") {
				if strings.Contains(line, levelChanged) && !strings.Contains(line, `"level":"info"`) {
					t.Errorf("level change not at info: %s", line)
				}
			}
			if tc.name == "true, false, absent" {
				for _, want := range []string{
					`"from":"info","to":"debug","debug_logging":"true"`,
					`"from":"debug","to":"info","debug_logging":"false"`,
					`"from":"debug","to":"info","debug_logging":"absent"`,
				} {
					if !strings.Contains(e.log.String(), want) {
						t.Errorf("no level-change line with %s", want)
					}
				}
			}
		})
	}
}

// A restart with Fleet unreachable starts at the --debug level, whatever
// the last run was told: as Fleet's agent, only a live answer switches.
func TestDebugLoggingNotFromCachedConfig(t *testing.T) {
	t.Parallel()
	e, level := debugEnv(t, false)
	on := true
	if err := e.srv.SetDebugLogging(hostUUID(), fleettest.DebugLogging{Value: &on}); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.idle()
	if !level.Debug() {
		t.Fatal("debug_logging true not applied")
	}
	e.stop()

	e.srv.SetFault("/api/fleet/orbit/config", fleettest.Fault{Status: 500})
	level2 := loglevel.New(false)
	e.agent = e.newAgent(func(c *Config) { c.LogLevel = level2 })
	e.start()
	e.idle()
	e.step(30 * time.Second)
	if level2.Debug() {
		t.Error("debug logging came back from the cached config")
	}
	e.srv.ClearFaults()
	e.step(30 * time.Second)
	if !level2.Debug() {
		t.Error("debug_logging true not applied once Fleet answered")
	}
}
