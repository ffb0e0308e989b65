package agent

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/orbitagent/orbit/component"
	"github.com/orbitagent/orbit/fleet"
	"github.com/orbitagent/orbit/osquery"
	"github.com/orbitagent/orbit/status"
	"github.com/orbitagent/orbit/supervisor"
	"github.com/orbitagent/orbit/updater"
)

// orbitInfo is orbit_info's source: what this run of orbit is, read on
// every query (osqueryd waits for the answer, so it only reads memory and
// one small file).
type orbitInfo struct {
	cfg       Config
	store     *status.Store
	upd       *updater.Updater // nil with updates off
	startedAt time.Time
}

var _ osquery.InfoSource = (*orbitInfo)(nil)

func (o *orbitInfo) OrbitInfo(context.Context) (osquery.OrbitInfo, error) {
	snap := o.store.Snapshot()
	info := osquery.OrbitInfo{
		Version:         o.cfg.Version,
		OrbitChannel:    o.channel(component.Orbit, o.cfg.Channels.Orbit),
		OsquerydChannel: o.channel(component.Osqueryd, o.cfg.Channels.Osqueryd),
		DesktopChannel:  o.channel(component.Desktop, o.cfg.Channels.Desktop),
		DesktopVersion:  snap.Components[string(component.Desktop)].Version,
		ScriptsEnabled:  o.cfg.EnableScripts,
		StartedAt:       o.startedAt,
	}
	if o.upd != nil {
		info.UpdateURL = o.cfg.UpdateURL
	}
	if f := snap.Fleet; f != nil {
		info.Enrolled, info.LastRecordedError = f.Enrolled, f.LastError
	}
	if o.cfg.FleetURL != "" {
		// The token the tray app reads; none yet before the first one.
		info.DeviceAuthToken, _ = fleet.ReadDeviceToken(o.cfg.Layout.Identifier())
	}
	return info, nil
}

// channel is the channel in effect: Fleet's update_channels may have
// changed the configured one.
func (o *orbitInfo) channel(c component.Name, configured string) string {
	if o.upd != nil {
		if ch := o.upd.Channel(c); ch != "" {
			return ch
		}
	}
	return configured
}

// osquerydStarts calls Health.Started at every start of osqueryd, from
// the process runner's status hook: each start reports running once with
// its own Restarts count.
type osquerydStarts struct {
	mu     sync.Mutex
	seen   bool
	last   int
	health *osquery.Health
}

func (s *osquerydStarts) observe(p status.Process) {
	if p.State != status.StateRunning {
		return
	}
	s.mu.Lock()
	fresh := !s.seen || p.Restarts != s.last
	s.seen, s.last = true, p.Restarts
	s.mu.Unlock()
	if fresh && s.health != nil {
		s.health.Started()
	}
}

// newOsquerySocket builds what talks to osqueryd over its extension
// socket: the extension serving orbit_info and fleetd_logs, and the health
// check that fails osqueryd through the runner when it stops answering.
func newOsquerySocket(cfg Config, deps Deps, info osquery.InfoSource, proc *supervisor.Process) (*osquery.Extension, *osquery.Health, error) {
	ring := deps.LogRing
	if ring == nil {
		ring = osquery.NewLogRing(osquery.LogRingConfig{Clock: deps.Clock})
	}
	ext, err := osquery.NewExtension(osquery.ExtensionConfig{
		Socket:  cfg.Layout.ExtensionsSocket(),
		Version: cfg.Version,
		Tables:  []osquery.Table{osquery.OrbitInfoTable(info, deps.Clock), osquery.LogTable(ring)},
		Clock:   deps.Clock,
		Logger:  deps.Logger,
	})
	if err != nil {
		return nil, nil, err
	}
	healthClock := deps.HealthClock
	if healthClock == nil {
		healthClock = deps.Clock
	}
	health, err := osquery.NewHealth(osquery.HealthConfig{
		Socket:  cfg.Layout.ExtensionsSocket(),
		Timeout: cfg.PingTimeout,
		OnUnhealthy: func() {
			// Health logged the one line; the runner counts the failure.
			proc.Fail(fmt.Sprintf("osqueryd missed %d pings in a row on its extension socket", osquery.DefaultMaxMissed))
		},
		Clock:  healthClock,
		Logger: deps.Logger,
	})
	if err != nil {
		return nil, nil, err
	}
	return ext, health, nil
}
