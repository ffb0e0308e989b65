package osquery

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	gen "github.com/osquery/osquery-go/gen/osquery"
	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/clock"
)

// DefaultExtensionName is the name Fleet's agent registers under; osquery
// refuses a second extension of the same name.
const DefaultExtensionName = "com.fleetdm.orbit.osquery_extension.v1"

// Defaults of ExtensionConfig.
const (
	DefaultCheckInterval = 5 * time.Second
	DefaultRetryInterval = time.Second
)

// ExtensionConfig configures an Extension. Socket and Tables are required.
type ExtensionConfig struct {
	// Socket is osqueryd's --extensions_socket (<root>/orbit-osquery.em).
	Socket string
	// Name is the extension's name (default DefaultExtensionName).
	Name string
	// Version is orbit's version, shown in osquery_extensions.
	Version string
	Tables  []Table
	// CheckInterval is how often the registration is checked (default 5 s).
	CheckInterval time.Duration
	// RetryInterval is the wait between registration attempts while
	// osqueryd is not up (default 1 s).
	RetryInterval time.Duration
	// Timeout bounds each call to osqueryd (default 30 s).
	Timeout time.Duration
	Clock   clock.Clock // default clock.Real()
	Logger  zerolog.Logger
}

// Validate reports what is missing.
func (c ExtensionConfig) Validate() error {
	if c.Socket == "" {
		return errors.New("osquery extension: no socket: set it to osqueryd's --extensions_socket")
	}
	if err := checkSocketPath(c.Socket, extensionSuffixLen); err != nil {
		return fmt.Errorf("osquery extension: %w", err)
	}
	if len(c.Tables) == 0 {
		return errors.New("osquery extension: no tables to serve")
	}
	seen := map[string]bool{}
	for _, t := range c.Tables {
		if t == nil || t.Name() == "" {
			return errors.New("osquery extension: a table without a name")
		}
		if seen[t.Name()] {
			return fmt.Errorf("osquery extension: table %s given twice", t.Name())
		}
		seen[t.Name()] = true
	}
	if c.CheckInterval < 0 || c.RetryInterval < 0 || c.Timeout < 0 {
		return errors.New("osquery extension: negative interval: use 0 for the default")
	}
	return nil
}

// Extension keeps orbit registered as an osquery extension: it registers
// once osqueryd's socket answers, serves the tables on "<socket>.<uuid>",
// checks every CheckInterval that osqueryd still lists it, and registers
// again when osqueryd restarted (a new manager knows no extensions) or
// dropped it. It is an actor: Run until ctx is done.
type Extension struct {
	cfg    ExtensionConfig
	client *Client

	mu   sync.Mutex
	uuid gen.ExtensionRouteUUID
	regs int // registrations so far
}

// NewExtension checks cfg and returns the actor.
func NewExtension(cfg ExtensionConfig) (*Extension, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		cfg.Name = DefaultExtensionName
	}
	if cfg.CheckInterval == 0 {
		cfg.CheckInterval = DefaultCheckInterval
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	client, err := NewClient(ClientConfig{Socket: cfg.Socket, Timeout: cfg.Timeout})
	if err != nil {
		return nil, err
	}
	return &Extension{cfg: cfg, client: client}, nil
}

// UUID is the current registration's route uuid; ok is false while not
// registered.
func (e *Extension) UUID() (uuid int64, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return int64(e.uuid), e.uuid != 0
}

func (e *Extension) setUUID(id gen.ExtensionRouteUUID) {
	e.mu.Lock()
	e.uuid = id
	if id != 0 {
		e.regs++
	}
	e.mu.Unlock()
}

func (e *Extension) registrations() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.regs
}

// Run registers and keeps the registration until ctx is done, then
// deregisters. It returns nil when ctx is done.
func (e *Extension) Run(ctx context.Context) error {
	log := e.cfg.Logger
	waiting := false
	for {
		srv, err := e.register(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// One line per outage: osqueryd may take a while to start.
			ev := log.Debug()
			if !waiting {
				ev = log.Info()
				waiting = true
			}
			ev.Err(err).Str("socket", e.cfg.Socket).Msg("osquery extension not registered yet: retrying")
			if !e.sleep(ctx, e.cfg.RetryInterval) {
				return nil
			}
			continue
		}
		waiting = false
		e.setUUID(srv.uuid)
		log.Info().Int64("uuid", int64(srv.uuid)).Str("name", e.cfg.Name).Msg("osquery extension registered")
		reason := e.keep(ctx, srv)
		e.setUUID(0)
		if ctx.Err() != nil {
			// Deregister before closing, so osqueryd stops routing queries
			// to us first; ctx is done, so on a fresh, short context.
			dctx, cancel := context.WithTimeout(context.Background(), min(e.client.cfg.Timeout, 5*time.Second))
			if err := e.client.deregister(dctx, srv.uuid); err != nil {
				log.Debug().Err(err).Msg("osquery extension deregistration failed")
			}
			cancel()
			srv.close()
			return nil
		}
		srv.close()
		log.Warn().Err(reason).Int64("uuid", int64(srv.uuid)).Msg("osquery extension lost its registration: registering again")
	}
}

// register registers with osqueryd and starts serving on the extension's
// socket. A registration under our name left by an earlier orbit (osqueryd
// has not noticed it is gone) is removed first.
func (e *Extension) register(ctx context.Context) (*tableServer, error) {
	if err := e.client.Ping(ctx); err != nil {
		return nil, err
	}
	info := &gen.InternalExtensionInfo{Name: e.cfg.Name, Version: e.cfg.Version}
	reg := gen.ExtensionRegistry{"table": gen.ExtensionRouteTable{}}
	for _, t := range e.cfg.Tables {
		reg["table"][t.Name()] = t.Routes()
	}
	id, err := e.client.register(ctx, info, reg)
	var refused *errRefused
	if errors.As(err, &refused) && refused.msg == "Duplicate extension registered" {
		if derr := e.removeStale(ctx); derr != nil {
			return nil, fmt.Errorf("%w (and removing the stale registration failed: %v)", err, derr)
		}
		id, err = e.client.register(ctx, info, reg)
	}
	if err != nil {
		return nil, err
	}
	path := e.cfg.Socket + "." + strconv.FormatInt(int64(id), 10)
	ln, err := listenSocket(path)
	if err != nil {
		_ = e.client.deregister(ctx, id)
		return nil, fmt.Errorf("listen on the extension socket %s: %w", path, err)
	}
	return newTableServer(id, e.cfg.Tables, ln, e.cfg.Logger), nil
}

// removeStale deregisters extensions registered under our name.
func (e *Extension) removeStale(ctx context.Context) error {
	list, err := e.client.extensions(ctx)
	if err != nil {
		return err
	}
	for id, info := range list {
		if info != nil && info.Name == e.cfg.Name {
			e.cfg.Logger.Info().Int64("uuid", int64(id)).Msg("removing a stale osquery extension registration of ours")
			if err := e.client.deregister(ctx, id); err != nil {
				return err
			}
		}
	}
	return nil
}

// keep checks the registration every CheckInterval (at once when osqueryd
// calls shutdown) and returns why it was lost, or nil when ctx is done.
func (e *Extension) keep(ctx context.Context, srv *tableServer) error {
	for {
		t := e.cfg.Clock.NewTimer(e.cfg.CheckInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-srv.shutdown:
			t.Stop()
		case <-t.C():
		}
		list, err := e.client.extensions(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if info, ok := list[srv.uuid]; !ok || info == nil || info.Name != e.cfg.Name {
			return errors.New("osqueryd no longer lists the extension (it restarted or dropped it)")
		}
	}
}

func (e *Extension) sleep(ctx context.Context, d time.Duration) bool {
	return clock.Sleep(ctx, e.cfg.Clock, d)
}
