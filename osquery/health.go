package osquery

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/clock"
)

// Defaults of HealthConfig.
const (
	DefaultPingInterval = 60 * time.Second
	DefaultPingTimeout  = 10 * time.Second
	DefaultMaxMissed    = 3
	// DefaultStartGrace covers a slow first start (a large database, a
	// busy host) before missed pings count.
	DefaultStartGrace = 5 * time.Minute
)

// HealthConfig configures a Health check. Socket and OnUnhealthy are
// required.
type HealthConfig struct {
	// Socket is osqueryd's --extensions_socket.
	Socket string
	// Interval between pings (default 60 s).
	Interval time.Duration
	// Timeout for one ping, connection included (default 10 s).
	Timeout time.Duration
	// MaxMissed pings in a row make osqueryd unhealthy (default 3).
	MaxMissed int
	// StartGrace: after osqueryd (re)starts, missed pings count only once
	// it has answered one or this long has passed (default 5 min), so a
	// daemon slow to create its socket is left alone.
	StartGrace time.Duration
	// OnUnhealthy is called once per unhealthy spell, from Run's
	// goroutine; the agent restarts osqueryd through the process runner.
	OnUnhealthy func()
	Clock       clock.Clock // default clock.Real()
	Logger      zerolog.Logger
}

// Validate reports what is missing.
func (c HealthConfig) Validate() error {
	if c.Socket == "" {
		return errors.New("osquery health check: no socket: set it to osqueryd's --extensions_socket")
	}
	if c.OnUnhealthy == nil {
		return errors.New("osquery health check: no OnUnhealthy callback")
	}
	if c.Interval < 0 || c.Timeout < 0 || c.MaxMissed < 0 || c.StartGrace < 0 {
		return errors.New("osquery health check: negative setting: use 0 for the default")
	}
	return nil
}

// Health pings osqueryd on its extension socket every Interval. After
// MaxMissed missed pings in a row it logs one line and calls OnUnhealthy,
// then treats osqueryd as freshly started (a new StartGrace). It is an
// actor: Run until ctx is done.
type Health struct {
	cfg    HealthConfig
	client *Client

	mu        sync.Mutex
	startedAt time.Time
	answered  bool
	missed    int
}

// NewHealth checks cfg and returns the check.
func NewHealth(cfg HealthConfig) (*Health, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultPingInterval
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultPingTimeout
	}
	if cfg.MaxMissed == 0 {
		cfg.MaxMissed = DefaultMaxMissed
	}
	if cfg.StartGrace == 0 {
		cfg.StartGrace = DefaultStartGrace
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	client, err := NewClient(ClientConfig{Socket: cfg.Socket, Timeout: cfg.Timeout})
	if err != nil {
		return nil, err
	}
	h := &Health{cfg: cfg, client: client, startedAt: cfg.Clock.Now()}
	return h, nil
}

// Started tells the check that osqueryd (re)started, for another reason
// than OnUnhealthy (a crash, an update): a new grace period, no misses.
func (h *Health) Started() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.startedAt, h.answered, h.missed = h.cfg.Clock.Now(), false, 0
}

// Missed is the number of missed pings in a row that count.
func (h *Health) Missed() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.missed
}

// Run pings until ctx is done; it returns nil then.
func (h *Health) Run(ctx context.Context) error {
	for {
		if !clock.Sleep(ctx, h.cfg.Clock, h.cfg.Interval) {
			return nil
		}
		err := h.client.Ping(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if h.record(err) {
			h.cfg.OnUnhealthy()
		}
	}
}

// record counts one ping's outcome and reports whether osqueryd just
// became unhealthy.
func (h *Health) record(err error) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	log := h.cfg.Logger
	if err == nil {
		if h.missed > 0 {
			log.Info().Int("missed_pings", h.missed).Msg("osqueryd answers on its extension socket again")
		}
		h.answered, h.missed = true, 0
		return false
	}
	if !h.answered && h.cfg.Clock.Now().Sub(h.startedAt) < h.cfg.StartGrace {
		log.Debug().Err(err).Msg("osqueryd not answering on its extension socket yet: still starting")
		return false
	}
	h.missed++
	if h.missed < h.cfg.MaxMissed {
		log.Debug().Err(err).Int("missed_pings", h.missed).Msg("osqueryd missed a ping on its extension socket")
		return false
	}
	log.Error().Err(err).Int("missed_pings", h.missed).Dur("ping_interval_ms", h.cfg.Interval).Str("socket", h.cfg.Socket).
		Msg("osqueryd is not answering on its extension socket: restarting it")
	h.startedAt, h.answered, h.missed = h.cfg.Clock.Now(), false, 0
	return true
}
