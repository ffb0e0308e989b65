package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/backoff"
	"github.com/orbitagent/orbit/clock"
	"github.com/orbitagent/orbit/internal/safefile"
	"github.com/orbitagent/orbit/osquery"
	"github.com/orbitagent/orbit/rootdir"
	"github.com/orbitagent/orbit/status"
)

// Defaults match Fleet's orbit (see "Talking to Fleet" in docs/ARCHITECTURE.md).
const (
	DefaultConfigInterval = 30 * time.Second
	DefaultPingInterval   = 5 * time.Minute
	// DefaultReenrollAfter is how long 401s must persist before the agent
	// throws its node key away and enrolls again (Fleet: 45 s).
	DefaultReenrollAfter = 45 * time.Second

	// The enroll retries: 10, 20, 40, 80, 160 s (six attempts), then every
	// 5 minutes, each plus up to 10% so hosts do not retry in step.
	enrollFirstDelay = 10 * time.Second
	enrollMaxDelay   = 5 * time.Minute
	// Waiting for osqueryd's host facts (its install, its start): 1 s
	// doubling to 30 s, plus up to 10%.
	factsFirstDelay = time.Second
	factsMaxDelay   = 30 * time.Second
	// quietLogEvery rate-limits repeated failure logs after the first ones.
	quietLogEvery = 30 * time.Minute
	// statusHeartbeat is how often a successful poll alone rewrites
	// state.json (last_config_at), to spare the disk a write every 30 s.
	statusHeartbeat      = time.Minute
	maxRememberedScripts = 1000
)

// Restarter restarts osqueryd (the supervisor's process implements it).
type Restarter interface{ Restart() }

// ExtensionSetter receives the osquery extensions Fleet asks for, for this
// host's platform, sorted by name (the agent installs and loads them).
type ExtensionSetter interface {
	SetExtensions(exts []Extension)
}

// HostFactsSource gives the host facts for the enroll;
// *osquery.HostFactsReader implements it.
type HostFactsSource interface {
	HostFacts(ctx context.Context) (osquery.HostFacts, error)
}

// ChannelSetter receives the update channels from Fleet (the updater).
type ChannelSetter interface {
	SetChannels(orbit, osqueryd, desktop string)
}

// StatusSetter receives the Fleet section of `orbit status`.
type StatusSetter interface {
	SetFleet(status.Fleet) error
}

// Rand is the jitter source; *rand.Rand from math/rand/v2 implements it.
type Rand interface{ Int64N(n int64) int64 }

// Config configures an Agent. Layout, URL and EnrollSecret are required.
type Config struct {
	Layout       rootdir.Layout
	URL          string
	EnrollSecret string
	// HTTPClient reaches Fleet (see HTTPClientConfig); nil uses the defaults.
	HTTPClient *http.Client
	// Version is orbit's version, for the User-Agent.
	Version string
	// Capabilities are the client capabilities to announce (default none).
	Capabilities []string
	// RequestTimeout bounds each request (default 30 s).
	RequestTimeout time.Duration

	// Clock drives poll intervals, the enroll backoff, the 401 grace
	// period and token rotation; default clock.Real().
	Clock clock.Clock
	Rand  Rand // default math/rand/v2
	// HostFacts gives the enroll facts from the osqueryd orbit runs
	// (osquery.HostFactsReader). Required: the agent never enrolls with
	// facts of its own, whose UUID could differ from osqueryd's.
	HostFacts HostFactsSource
	// HostIdentifier is osqueryd's --host_identifier ("uuid", the default,
	// or "instance"); with "instance" the enroll names osquery's instance
	// id so Fleet can match the two enrollments of a cloned VM.
	HostIdentifier string

	Restarter     Restarter     // may be nil
	ChannelSetter ChannelSetter // may be nil
	// Extensions receives the config's osquery extensions for Platform
	// (may be nil: orbit without updates cannot install them).
	Extensions ExtensionSetter
	// Platform is the update platform the extensions are for (linux,
	// linux-arm64, macos, windows, windows-arm64).
	Platform string
	Status   StatusSetter // may be nil
	Logger   zerolog.Logger
	// LogLevel is switched by the server's debug_logging; nil ignores it.
	LogLevel LevelSetter

	// ScriptsEnabled allows running scripts from Fleet; when false every
	// pending script is answered with exit code -2, as Fleet's orbit does.
	ScriptsEnabled bool
	// ScriptsDir holds the scripts' temporary directories (default the
	// system temporary directory).
	ScriptsDir string

	// Querier runs software installs' pre-install queries in osqueryd;
	// nil (or osqueryd not listening) makes such installs wait.
	Querier Querier
	// InstallTimeout bounds each script of a software install (default
	// 1 h, Fleet's); MaxPackageBytes the package (default 10 GiB);
	// DownloadTimeout its download (default 1 h).
	InstallTimeout  time.Duration
	MaxPackageBytes int64
	DownloadTimeout time.Duration

	// EndUserEmail is sent to Fleet's device mapping (--end-user-email)
	// when the server advertises end_user_email.
	EndUserEmail string

	ConfigInterval     time.Duration // default 30 s, plus up to 10% jitter
	PingInterval       time.Duration // default 5 min
	TokenTTL           time.Duration // default 1 h
	TokenCheckInterval time.Duration // default 30 s
	TokenRemoteCheck   time.Duration // default 5 min
	ReenrollAfter      time.Duration // default 45 s
}

// Agent enrolls the host in Fleet and keeps it configured. Create it with
// New and start it with Run.
type Agent struct {
	cfg    Config
	client *Client
	clock  clock.Clock
	rand   Rand
	log    zerolog.Logger

	// Owned by the Run goroutine.
	lastContact     time.Time
	lastChannels    *UpdateChannels
	lastCache       []byte
	lastDropped     string
	lastExts        []Extension
	extsSet         bool
	lastExtsDropped string
	token           string
	tokenRegistered bool
	// tokenBorn is when token was made, as a reading of the agent's clock
	// (real clocks carry a monotonic reading, which Sub uses): within a
	// run, a step of the wall clock does not change the token's age.
	tokenBorn     time.Time
	enrollBackoff *backoff.Backoff
	factsBackoff  *backoff.Backoff
	lastQuietLog  time.Time
	scriptTimeout time.Duration

	authMu      sync.Mutex
	unauthSince time.Time
	reenroll    bool

	statusMu      sync.Mutex
	st            status.Fleet
	stWrittenAt   time.Time
	stWrittenCopy status.Fleet

	workJobs chan workJob
	pollNow  chan struct{}

	// Owned by the Run goroutine.
	notifs        notificationLog
	mappingSent   bool
	mappingLogged bool
	lastTokenPing time.Time
	deadToken     string
	enrollRefused string

	ready     chan struct{}
	readyOnce sync.Once
}

// Shortest and longest intervals Config accepts (the CLI's
// --config-interval and --device-token-check-interval). The maxima keep
// the jittered waits from overflowing, and a token checked less than
// hourly would outlive the server's one-hour lifetime.
const (
	MinConfigInterval     = time.Second
	MaxConfigInterval     = 24 * time.Hour
	MinTokenCheckInterval = 100 * time.Millisecond
	MaxTokenCheckInterval = time.Hour
)

// ValidateIntervals is the rule for the poll intervals (0 takes the default).
func ValidateIntervals(configInterval, tokenCheck time.Duration) error {
	if configInterval != 0 && configInterval < MinConfigInterval {
		return fmt.Errorf("--config-interval %s is too short: use at least 1s (default 30s)", configInterval)
	}
	if configInterval > MaxConfigInterval {
		return fmt.Errorf("--config-interval %s is too long: use at most 24h (default 30s)", configInterval)
	}
	if tokenCheck != 0 && tokenCheck < MinTokenCheckInterval {
		return fmt.Errorf("--device-token-check-interval %s is too short: use at least 100ms (default 30s)", tokenCheck)
	}
	if tokenCheck > MaxTokenCheckInterval {
		return fmt.Errorf("--device-token-check-interval %s is too long: use at most 1h (default 30s)", tokenCheck)
	}
	return nil
}

// Validate checks cfg; zero durations are valid (they take defaults).
func (cfg Config) Validate() error {
	if err := cfg.Layout.Validate(); err != nil {
		return fmt.Errorf("fleet agent: %w", err)
	}
	if err := ValidateURL(cfg.URL); err != nil {
		return err
	}
	if cfg.EnrollSecret == "" {
		return osquery.ErrNoEnrollSecret
	}
	switch cfg.HostIdentifier {
	case "", "uuid", "instance":
	default:
		return fmt.Errorf("--host-identifier %q is not valid: use uuid or instance", cfg.HostIdentifier)
	}
	if len(cfg.EnrollSecret) > safefile.MaxSecret {
		// It goes into osqueryd's environment, which the kernel limits.
		return fmt.Errorf("the enroll secret is longer than %d bytes: give the secret from Fleet's Add hosts page", safefile.MaxSecret)
	}
	if err := ValidateIntervals(cfg.ConfigInterval, cfg.TokenCheckInterval); err != nil {
		return err
	}
	if err := ValidateEndUserEmail(cfg.EndUserEmail); err != nil {
		return err
	}
	if cfg.MaxPackageBytes < 0 {
		return errors.New("fleet agent: MaxPackageBytes must not be negative")
	}
	for _, d := range []time.Duration{cfg.RequestTimeout, cfg.PingInterval, cfg.TokenTTL, cfg.ReenrollAfter, cfg.InstallTimeout, cfg.DownloadTimeout} {
		if d < 0 {
			return fmt.Errorf("fleet agent: durations must not be negative (got %s)", d)
		}
	}
	return nil
}

// New checks cfg and builds an Agent.
func New(cfg Config) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.HostFacts == nil {
		// Not in Validate: the command line cannot give it.
		return nil, errors.New("fleet agent: no host facts source: give it the osqueryd it enrolls for")
	}
	client, err := NewClient(ClientConfig{
		URL:            cfg.URL,
		HTTPClient:     cfg.HTTPClient,
		Version:        cfg.Version,
		Capabilities:   cfg.Capabilities,
		RequestTimeout: cfg.RequestTimeout,
	})
	if err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.Rand == nil {
		cfg.Rand = globalRand{}
	}
	setDefault(&cfg.ConfigInterval, DefaultConfigInterval)
	setDefault(&cfg.PingInterval, DefaultPingInterval)
	setDefault(&cfg.TokenTTL, DefaultTokenTTL)
	setDefault(&cfg.TokenCheckInterval, DefaultTokenCheckInterval)
	setDefault(&cfg.TokenRemoteCheck, DefaultTokenRemoteCheck)
	setDefault(&cfg.ReenrollAfter, DefaultReenrollAfter)
	setDefault(&cfg.InstallTimeout, DefaultInstallTimeout)
	setDefault(&cfg.DownloadTimeout, DefaultDownloadTimeout)
	if cfg.MaxPackageBytes == 0 {
		cfg.MaxPackageBytes = DefaultMaxPackageBytes
	}
	rnd := cfg.Rand
	enroll, err := backoff.New(backoff.Config{
		Initial: enrollFirstDelay, Max: enrollMaxDelay, Jitter: 0.1, Mode: backoff.Extend,
		Rand: func() float64 { return float64(rnd.Int64N(1<<53)) / (1 << 53) },
	})
	if err != nil {
		return nil, err
	}
	facts, err := backoff.New(backoff.Config{
		Initial: factsFirstDelay, Max: factsMaxDelay, Jitter: 0.1, Mode: backoff.Extend,
		Rand: func() float64 { return float64(rnd.Int64N(1<<53)) / (1 << 53) },
	})
	if err != nil {
		return nil, err
	}
	return &Agent{
		enrollBackoff: enroll,
		factsBackoff:  facts,
		cfg:           cfg,
		client:        client,
		clock:         cfg.Clock,
		rand:          cfg.Rand,
		log:           cfg.Logger.With().Str("component", "fleet").Logger(),
		scriptTimeout: DefaultScriptTimeout,
		st:            status.Fleet{URL: client.URL()},
		workJobs:      make(chan workJob, 1),
		pollNow:       make(chan struct{}, 1),
		ready:         make(chan struct{}),
	}, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

type globalRand struct{}

func (globalRand) Int64N(n int64) int64 { return rand.Int64N(n) }

// Ready is closed once the first config from the server has been applied,
// or as soon as the first enroll attempt fails (the cached config, if any,
// is then in place). orbit starts osqueryd after it, so osqueryd does not
// start with stale flags only to be restarted a second later.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

func (a *Agent) markReady() { a.readyOnce.Do(func() { close(a.ready) }) }

// Run enrolls if needed, then polls the config, pings and rotates the device
// token until ctx is done. It returns ctx's error; failures along the way
// are logged, shown in the status and retried.
func (a *Agent) Run(ctx context.Context) error {
	a.log.Info().Str("fleet_url", a.client.URL()).Bool("scripts_enabled", a.cfg.ScriptsEnabled).Msg("fleet agent starting")

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.worker(ctx)
	}()
	defer wg.Wait()

	// The last good config applies even while the server is down.
	if cached, err := loadConfigCache(a.cfg.Layout.FleetConfigCache()); err != nil {
		a.log.Warn().Err(err).Msg("fleet config cache unreadable")
	} else if cached != nil {
		a.log.Info().Msg("applying cached fleet config")
		a.applyConfig(cached)
		a.lastCache, _ = encodeConfigCache(cached)
	}

	if key := a.readNodeKey(); key != "" {
		a.client.SetNodeKey(key)
		a.setStatus(func(s *status.Fleet) { s.Enrolled = true })
	} else if err := a.enroll(ctx); err != nil {
		return err
	}

	// Config first: its answer carries the server capabilities the token
	// logic looks at.
	a.pollConfig(ctx)
	a.markReady()
	a.checkToken(ctx)
	a.checkTokenRemote(ctx)
	configT := a.clock.NewTimer(a.jitter(a.cfg.ConfigInterval))
	tokenT := a.clock.NewTimer(a.cfg.TokenCheckInterval)
	pingT := a.clock.NewTimer(a.jitter(a.cfg.PingInterval))
	defer func() { configT.Stop(); tokenT.Stop(); pingT.Stop() }()
	for {
		// The timer that fired is re-armed last, after any re-enroll: until
		// then the agent is not idle (tests wait for its three timers).
		var rearm func()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-configT.C():
			a.pollConfig(ctx)
			rearm = func() { configT = a.clock.NewTimer(a.jitter(a.cfg.ConfigInterval)) }
		case <-a.pollNow:
			// A result was posted: the server lists the next queued item
			// now, so poll at once rather than at the next tick.
			configT.Stop()
			a.pollConfig(ctx)
			rearm = func() { configT = a.clock.NewTimer(a.jitter(a.cfg.ConfigInterval)) }
		case <-tokenT.C():
			a.checkToken(ctx)
			a.checkTokenRemote(ctx)
			rearm = func() { tokenT = a.clock.NewTimer(a.cfg.TokenCheckInterval) }
		case <-pingT.C():
			a.ping(ctx)
			rearm = func() { pingT = a.clock.NewTimer(a.jitter(a.cfg.PingInterval)) }
		}
		if a.reenrollArmed() {
			if err := a.enroll(ctx); err != nil {
				return err
			}
			// A new host record knows no token, no end-user email and has
			// no config yet.
			a.tokenRegistered = false
			a.mappingSent = false
			a.pollConfig(ctx)
			a.checkToken(ctx)
		}
		rearm()
	}
}

// jitter adds up to 10% to d so that many hosts do not poll in lockstep;
// it never shortens an interval.
func (a *Agent) jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return d + time.Duration(a.rand.Int64N(int64(d)/10+1))
}

// wait blocks for d on the agent's clock.
func (a *Agent) wait(ctx context.Context, d time.Duration) error {
	if !clock.Sleep(ctx, a.clock, d) {
		return ctx.Err()
	}
	return nil
}

func (a *Agent) readNodeKey() string {
	data, err := safefile.ReadLimited(a.cfg.Layout.NodeKey(), safefile.MaxSecret)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			a.log.Warn().Err(err).Msg("orbit node key unreadable, enrolling again")
		}
		return ""
	}
	return strings.TrimSpace(string(data))
}

// enroll obtains a node key, retrying with backoff until it succeeds or ctx
// ends. The key file is replaced atomically (0600) before the key is used.
func (a *Agent) enroll(ctx context.Context) error {
	info, err := a.hostInfo(ctx)
	if err != nil {
		return err
	}
	for {
		key, err := a.client.Enroll(ctx, a.cfg.EnrollSecret, info)
		if err == nil {
			if werr := safefile.WriteAtomic(a.cfg.Layout.NodeKey(), []byte(key), 0o600); werr != nil {
				err = fmt.Errorf("save orbit node key: %w", werr)
			} else {
				a.client.SetNodeKey(key)
				a.clearAuth()
				a.enrollBackoff.Reset()
				a.lastContact = a.clock.Now()
				a.log.Info().Str("hardware_uuid", info.HardwareUUID).Msg("enrolled in fleet")
				a.enrollRefused = ""
				a.setStatus(func(s *status.Fleet) { s.Enrolled = true; s.LastError = ""; s.EnrollRefused = "" })
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, ErrNotFound) {
			return a.enrollEndpointMissing(ctx, err)
		}
		delay := a.enrollBackoff.Next(0)
		attempt := a.enrollBackoff.Failures()
		refused := ""
		if errors.Is(err, ErrEndUserAuthRequired) {
			refused = status.EnrollRefusedEndUserAuth
			// Only a change on the server helps: retry at the backoff's
			// cap, and say so once, then at a limited rate.
			delay = max(delay, enrollMaxDelay)
			now := a.clock.Now()
			if a.enrollRefused != refused || now.Sub(a.lastQuietLog) >= quietLogEvery {
				a.lastQuietLog = now
				a.log.Error().Int("attempt", attempt).Dur("retry_in_ms", delay).Msg(ErrEndUserAuthRequired.Error())
			}
		} else {
			msg := "fleet enroll failed, retrying"
			if errors.Is(err, ErrEnrollSecretRejected) {
				msg = "fleet rejected the enroll secret: check --enroll-secret or the file of --enroll-secret-path, retrying"
			}
			if attempt <= 6 || a.clock.Now().Sub(a.lastQuietLog) >= quietLogEvery {
				a.lastQuietLog = a.clock.Now()
				a.log.Error().Err(err).Int("attempt", attempt).Dur("retry_in_ms", delay).Msg(msg)
			}
		}
		a.enrollRefused = refused
		a.setStatus(func(s *status.Fleet) {
			s.Enrolled = false
			s.LastError = "enroll: " + err.Error()
			s.EnrollRefused = refused
		})
		a.markReady() // do not hold osqueryd back while Fleet is unreachable
		if err := a.wait(ctx, delay); err != nil {
			return err
		}
	}
}

// enrollEndpointMissing is Fleet's agent's rule for an enroll answered 404
// (a server without the Orbit API): stop retrying, with one line. osqueryd
// keeps running (the ready gate opens); the agent idles until ctx ends, as
// returning would only make the run group restart it into the same 404.
func (a *Agent) enrollEndpointMissing(ctx context.Context, err error) error {
	a.log.Error().Err(err).Msg("fleet has no Orbit enroll endpoint (HTTP 404): --fleet-url is not a Fleet server with the Orbit API, or one older than it; orbit stops enrolling until it is restarted and keeps running osqueryd")
	a.enrollRefused = status.EnrollRefusedNoEndpoint
	a.setStatus(func(s *status.Fleet) {
		s.Enrolled = false
		s.LastError = "enroll: " + err.Error()
		s.EnrollRefused = status.EnrollRefusedNoEndpoint
	})
	a.markReady()
	<-ctx.Done()
	return ctx.Err()
}

// hostInfo waits for the host facts from osqueryd, retrying from 1 s up
// to 30 s (osqueryd may not be installed yet, or be starting): enrolling
// with facts of our own could give Fleet another UUID than osqueryd's, and
// two host records it never matches. While it waits osqueryd is not held
// back. It returns only ctx's error.
func (a *Agent) hostInfo(ctx context.Context) (HostInfo, error) {
	waiting := false
	for {
		f, err := a.cfg.HostFacts.HostFacts(ctx)
		if err == nil {
			a.factsBackoff.Reset()
			a.log.Info().Str("hardware_uuid", f.HardwareUUID).Str("host_identifier", a.hostIdentifier()).Msg("host facts collected from osqueryd")
			return hostInfoOf(f, a.hostIdentifier()), nil
		}
		if ctx.Err() != nil {
			return HostInfo{}, ctx.Err()
		}
		delay := a.factsBackoff.Next(0)
		ev := a.log.Debug()
		if !waiting {
			ev, waiting = a.log.Warn(), true
		}
		ev.Err(err).Dur("retry_in_ms", delay).Msg("waiting for osqueryd's host facts before enrolling")
		a.setStatus(func(s *status.Fleet) {
			s.Enrolled = false
			s.LastError = "enroll: waiting for host facts: " + err.Error()
		})
		a.markReady() // osqueryd may be what we wait for
		if err := a.wait(ctx, delay); err != nil {
			return HostInfo{}, err
		}
	}
}

func (a *Agent) hostIdentifier() string {
	if a.cfg.HostIdentifier == "" {
		return "uuid"
	}
	return a.cfg.HostIdentifier
}

// hostInfoOf is the enroll request's view of osquery's facts. Fleet
// matches orbit's host to osqueryd's by hardware_uuid, or by
// osquery_identifier when set: osquery's instance id with
// --host-identifier=instance (as Fleet's agent sends), its host UUID
// otherwise.
func hostInfoOf(f osquery.HostFacts, hostIdentifier string) HostInfo {
	id := f.OsqueryUUID
	if hostIdentifier == "instance" {
		id = f.InstanceID
	}
	if id == "" {
		id = f.HardwareUUID
	}
	return HostInfo{
		HardwareUUID:      f.HardwareUUID,
		HardwareSerial:    f.HardwareSerial,
		Hostname:          f.Hostname,
		ComputerName:      f.ComputerName,
		HardwareModel:     f.HardwareModel,
		Platform:          f.Platform,
		PlatformLike:      f.PlatformLike,
		OsqueryIdentifier: id,
	}
}

// noteAuth records the outcome of an authenticated call: success ends a 401
// streak; a 401 streak older than ReenrollAfter arms re-enrollment.
func (a *Agent) noteAuth(err error) {
	a.authMu.Lock()
	defer a.authMu.Unlock()
	switch {
	case err == nil:
		a.unauthSince = time.Time{}
	case errors.Is(err, ErrUnauthenticated):
		now := a.clock.Now()
		if a.unauthSince.IsZero() {
			a.unauthSince = now
		}
		if waited := now.Sub(a.unauthSince); waited >= a.cfg.ReenrollAfter {
			if !a.reenroll {
				a.log.Warn().Dur("after_ms", waited).Msg("fleet keeps rejecting the orbit node key, enrolling again")
			}
			a.reenroll = true
		}
	}
}

func (a *Agent) reenrollArmed() bool {
	a.authMu.Lock()
	defer a.authMu.Unlock()
	return a.reenroll
}

func (a *Agent) clearAuth() {
	a.authMu.Lock()
	a.unauthSince, a.reenroll = time.Time{}, false
	a.authMu.Unlock()
}

func (a *Agent) pollConfig(ctx context.Context) {
	cfg, err := a.client.GetConfig(ctx)
	a.noteAuth(err)
	if err != nil {
		a.logQuiet(err, "fleet config poll failed")
		a.setStatus(func(s *status.Fleet) { s.LastError = "config: " + err.Error() })
		return
	}
	now := a.clock.Now()
	a.lastContact = now
	a.setStatus(func(s *status.Fleet) { s.LastError = ""; s.LastConfigAt = now.UTC(); s.Enrolled = true })
	a.applyDebugLogging(cfg)
	a.log.Debug().Int("pending_scripts", len(cfg.Notifications.PendingScriptExecutionIDs)).
		Int("pending_installs", len(cfg.Notifications.PendingSoftwareInstallerIDs)).Msg("fleet config received")
	a.applyConfig(cfg)
	if data, err := encodeConfigCache(cfg); err == nil && !bytes.Equal(data, a.lastCache) {
		if err := saveConfigCache(a.cfg.Layout.FleetConfigCache(), data); err != nil {
			a.log.Warn().Err(err).Msg("fleet config cache not saved")
		} else {
			a.lastCache = data
		}
	}
	a.noteNotifications(cfg)
	// Every poll wakes the worker, with or without ids: it also delivers
	// install results kept in the journal.
	job := workJob{
		scripts:  cfg.Notifications.PendingScriptExecutionIDs,
		installs: cfg.Notifications.PendingSoftwareInstallerIDs,
		timeout:  a.scriptTimeout,
	}
	select {
	case a.workJobs <- job:
	default: // the worker is busy; the next poll lists them again
	}
	a.syncDeviceMapping(ctx)
}

// pollSoon asks the poll loop for a config poll at once.
func (a *Agent) pollSoon() {
	select {
	case a.pollNow <- struct{}{}:
	default:
	}
}

// logQuiet logs a failure of a periodic call: every time at debug, at warn
// at most once per quietLogEvery, so an outage does not flood the log.
func (a *Agent) logQuiet(err error, msg string) {
	now := a.clock.Now()
	if a.lastQuietLog.IsZero() || now.Sub(a.lastQuietLog) >= quietLogEvery {
		a.lastQuietLog = now
		a.log.Warn().Err(err).Msg(msg)
		return
	}
	a.log.Debug().Err(err).Msg(msg)
}

// applyConfig acts on a config from the server or the cache: osquery flags,
// update channels, script timeout.
func (a *Agent) applyConfig(cfg *OrbitConfig) {
	if cfg.ScriptExecutionTimeout > 0 {
		a.scriptTimeout = time.Duration(cfg.ScriptExecutionTimeout) * time.Second
	} else {
		a.scriptTimeout = DefaultScriptTimeout
	}
	a.applyFlags(cfg.Flags)
	a.applyExtensions(cfg.Extensions)
	if ch := cfg.UpdateChannels; ch != nil && a.cfg.ChannelSetter != nil {
		if a.lastChannels == nil || *a.lastChannels != *ch {
			c := *ch
			a.lastChannels = &c
			a.log.Info().Str("orbit", c.Orbit).Str("osqueryd", c.Osqueryd).Str("desktop", c.Desktop).Msg("update channels from fleet")
			a.cfg.ChannelSetter.SetChannels(c.Orbit, c.Osqueryd, c.Desktop)
		}
	}
}

// applyFlags writes osquery.flags when the server's flags differ from the
// file and then restarts osqueryd, only then.
func (a *Agent) applyFlags(raw []byte) {
	flags, err := osquery.ParseServerFlags(raw)
	if err != nil {
		a.log.Warn().Err(err).Msg("ignoring osquery flags from fleet")
		return
	}
	// Warn when the set of refused flags changes, not on every poll.
	var sig strings.Builder
	for _, d := range flags.Dropped {
		sig.WriteString(d.Name + "\x00")
	}
	if sig.String() != a.lastDropped {
		a.lastDropped = sig.String()
		for _, d := range flags.Dropped {
			a.log.Warn().Str("flag", d.Name).Str("reason", d.Reason).Msg("osquery flag from fleet refused")
		}
	}
	if !flags.Set {
		return
	}
	content := osquery.RenderFlagfile(flags.Values)
	path := a.cfg.Layout.OsqueryFlags()
	if cur, err := safefile.ReadLimited(path, safefile.MaxState); err == nil && bytes.Equal(cur, content) {
		return
	}
	// 0644 as Fleet's orbit: the flagfile is meant to be readable and
	// editable by administrators; it holds no secret (the enroll secret
	// reaches osqueryd through its environment).
	if err := safefile.WriteAtomic(path, content, 0o644); err != nil {
		a.log.Error().Err(err).Msg("cannot write osquery flags from fleet")
		return
	}
	a.log.Info().Int("flags", len(flags.Values)).Msg("osquery flags changed, restarting osqueryd")
	if a.cfg.Restarter != nil {
		a.cfg.Restarter.Restart()
	}
}

// applyExtensions hands the config's extensions to the setter when the
// list changed (an empty list too: that removes them), with one log line
// per refused entry when the refused set changes.
func (a *Agent) applyExtensions(raw json.RawMessage) {
	exts, dropped, err := ParseExtensions(raw, a.cfg.Platform)
	if err != nil {
		a.log.Warn().Err(err).Msg("ignoring osquery extensions from fleet")
		return
	}
	var sig strings.Builder
	for _, d := range dropped {
		sig.WriteString(d.Name + "\x00")
	}
	if sig.String() != a.lastExtsDropped {
		a.lastExtsDropped = sig.String()
		for _, d := range dropped {
			a.log.Warn().Str("extension", d.Name).Str("reason", d.Reason).Msg("osquery extension from fleet refused")
		}
	}
	if a.extsSet && slices.Equal(exts, a.lastExts) {
		return
	}
	a.extsSet, a.lastExts = true, exts
	if a.cfg.Extensions == nil {
		if len(exts) > 0 {
			a.log.Warn().Int("extensions", len(exts)).Msg("fleet lists osquery extensions, but updates are off: they cannot be installed")
		}
		return
	}
	a.log.Info().Int("extensions", len(exts)).Msg("osquery extensions from fleet")
	a.cfg.Extensions.SetExtensions(exts)
}

// ping refreshes the server capabilities. Every Orbit API answer carries
// them, so a ping is only sent when nothing else reached the server during
// the last ping interval.
func (a *Agent) ping(ctx context.Context) {
	if !a.lastContact.IsZero() && a.clock.Now().Sub(a.lastContact) < a.cfg.PingInterval {
		return
	}
	if err := a.client.Ping(ctx); err != nil {
		a.logQuiet(err, "fleet ping failed")
		return
	}
	a.lastContact = a.clock.Now()
}

// checkToken makes sure the identifier file holds a token the server knows
// and rotates it when it is older than TokenTTL. The server is told first;
// the file changes only after it accepted the token, so the tray app never
// reads a token Fleet does not know. Failures are retried on the next check.
func (a *Agent) checkToken(ctx context.Context) {
	path := a.cfg.Layout.Identifier()
	tok, mtime, err := readToken(path)
	now := a.clock.Now()
	rotationAllowed := a.client.HasCapability(CapabilityTokenRotation)
	born := a.tokenBirth(tok, mtime, now)
	switch {
	case err != nil:
		if !errors.Is(err, os.ErrNotExist) {
			a.log.Warn().Err(err).Msg("device token file unusable, generating a new token")
		}
		a.rotateToken(ctx, now)
	case rotationAllowed && now.Sub(born) >= a.cfg.TokenTTL:
		a.rotateToken(ctx, now)
	case !a.tokenRegistered || tok != a.token:
		// A token from an earlier run, or one changed on disk: make sure
		// this server (maybe after a re-enroll) knows it.
		err := a.client.SetDeviceToken(ctx, tok)
		a.noteAuth(err)
		if errors.Is(err, ErrNotFound) {
			// An old Fleet without the endpoint: do not ask again every check.
			a.log.Warn().Msg("fleet has no device token endpoint, the My device page is unavailable")
			a.tokenRegistered, a.token, a.tokenBorn = true, tok, born
			return
		}
		if err != nil {
			a.logQuiet(err, "device token registration failed")
			return
		}
		a.lastContact = now
		a.tokenRegistered, a.token, a.tokenBorn = true, tok, born
		a.publishToken(tok)
	}
}

// tokenBirth is when the token in the file was made. The agent's own
// token is as old as the agent's clock says. One it did not make in this
// run (an earlier run's, or one changed on disk) is dated by the file's
// mtime, the only record across runs; an mtime in the future (the wall
// clock went back since it was written) makes it stale, so a backward
// step can never keep a token past the server's lifetime.
func (a *Agent) tokenBirth(tok string, mtime, now time.Time) time.Time {
	if tok == a.token && !a.tokenBorn.IsZero() {
		return a.tokenBorn
	}
	if mtime.After(now) {
		return now.Add(-a.cfg.TokenTTL)
	}
	// now carries the clock's monotonic reading, and so does the result.
	return now.Add(-now.Sub(mtime))
}

func (a *Agent) rotateToken(ctx context.Context, now time.Time) {
	tok, err := NewDeviceToken()
	if err != nil {
		a.log.Error().Err(err).Msg("device token rotation failed")
		return
	}
	err = a.client.SetDeviceToken(ctx, tok)
	a.noteAuth(err)
	oldServer := errors.Is(err, ErrNotFound)
	if err != nil && !oldServer {
		a.logQuiet(err, "device token rotation failed, keeping the current token")
		return
	}
	if err := writeToken(a.cfg.Layout.Identifier(), tok, now); err != nil {
		a.log.Error().Err(err).Msg("device token not saved")
		return
	}
	if oldServer {
		// Nothing to register with: keep a token on disk for the tray app
		// and do not retry every check.
		a.log.Warn().Msg("fleet has no device token endpoint, the My device page is unavailable")
		a.tokenRegistered, a.token, a.tokenBorn = true, tok, now
		return
	}
	a.lastContact = now
	if a.token == "" {
		a.log.Info().Msg("device token created")
	} else {
		a.log.Info().Msg("device token rotated")
	}
	a.tokenRegistered, a.token, a.tokenBorn = true, tok, now
	a.publishToken(tok)
}

func (a *Agent) publishToken(tok string) {
	url := a.client.URL() + "/device/" + tok
	a.setStatus(func(s *status.Fleet) { s.MyDeviceURL = url })
}

// MyDeviceURL returns the "My device" page for the current token ("" until
// a token is registered). It embeds the token: show it, never log it.
func (a *Agent) MyDeviceURL() string {
	a.statusMu.Lock()
	defer a.statusMu.Unlock()
	return a.st.MyDeviceURL
}

// setStatus edits the status and pushes it when it changed; a change of
// last_config_at alone is pushed at most once per statusHeartbeat.
func (a *Agent) setStatus(fn func(*status.Fleet)) {
	a.statusMu.Lock()
	defer a.statusMu.Unlock()
	fn(&a.st)
	if a.cfg.Status == nil {
		return
	}
	now := a.clock.Now()
	if !a.stWrittenAt.IsZero() {
		cur := a.st
		cur.LastConfigAt = a.stWrittenCopy.LastConfigAt
		onlyTime := cur == a.stWrittenCopy
		if onlyTime && (a.st.LastConfigAt.Equal(a.stWrittenCopy.LastConfigAt) || now.Sub(a.stWrittenAt) < statusHeartbeat) {
			return
		}
	}
	if err := a.cfg.Status.SetFleet(a.st); err != nil {
		a.log.Warn().Err(err).Msg("status not saved")
		return
	}
	a.stWrittenCopy, a.stWrittenAt = a.st, now
}
