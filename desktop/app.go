package desktop

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/backoff"
	"github.com/orbitagent/orbit/clock"
)

// Defaults of Config.
const (
	DefaultTokenCheckInterval = time.Second
	// DefaultAuthRetries and DefaultAuthRetryDelay are Fleet Desktop's:
	// four attempts in all, the n-th retry after n seconds, which covers
	// orbit registering a new token with Fleet just before writing it.
	DefaultAuthRetries    = 3
	DefaultAuthRetryDelay = time.Second
	// DefaultOfflineMax caps the backoff while Fleet is unreachable, so
	// the tray notices a server that came back within two minutes.
	DefaultOfflineMax = 2 * time.Minute
)

// MenuView draws the menu. App calls ShowMenu from its Run goroutine, only
// when the menu changed; it must not block for long.
type MenuView interface {
	ShowMenu(Menu)
}

// Config is what App needs. Settings, HTTPClient, Opener and Menu are
// required; the rest have defaults.
type Config struct {
	Settings Settings
	// HTTPClient carries the calls to Fleet (TLS settings included).
	HTTPClient *http.Client
	Opener     Opener
	Menu       MenuView
	// Version is shown in the menu.
	Version string
	Clock   clock.Clock
	Logger  zerolog.Logger
	// TokenCheckInterval is how often the identifier file is stat'ed.
	TokenCheckInterval time.Duration
	// AuthRetries is how many times a 401 is retried with the token read
	// again (0 = DefaultAuthRetries; negative = none) before going offline.
	AuthRetries int
	// AuthRetryDelay is the wait before the first retry; the n-th waits n
	// times this.
	AuthRetryDelay time.Duration
	// OfflineBackoff spaces the polls while Fleet is unreachable. Zero
	// Initial means Settings.PollInterval, zero Max DefaultOfflineMax.
	OfflineBackoff backoff.Config
}

func (c Config) withDefaults() Config {
	if c.Settings.PollInterval == 0 {
		c.Settings.PollInterval = DefaultPollInterval
	}
	if c.Clock == nil {
		c.Clock = clock.Real()
	}
	if c.TokenCheckInterval == 0 {
		c.TokenCheckInterval = DefaultTokenCheckInterval
	}
	switch {
	case c.AuthRetries == 0:
		c.AuthRetries = DefaultAuthRetries
	case c.AuthRetries < 0:
		c.AuthRetries = 0
	}
	if c.AuthRetryDelay == 0 {
		c.AuthRetryDelay = DefaultAuthRetryDelay
	}
	if c.OfflineBackoff.Initial == 0 {
		c.OfflineBackoff.Initial = c.Settings.PollInterval
	}
	if c.OfflineBackoff.Max == 0 {
		c.OfflineBackoff.Max = max(DefaultOfflineMax, c.OfflineBackoff.Initial)
	}
	return c
}

// Validate reports what is missing or wrong in the config.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if err := c.Settings.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.HTTPClient == nil {
		errs = append(errs, errors.New("HTTPClient is required"))
	}
	if c.Opener == nil {
		errs = append(errs, errors.New("Opener is required"))
	}
	if c.Menu == nil {
		errs = append(errs, errors.New("Menu is required"))
	}
	if c.TokenCheckInterval < 0 || c.AuthRetryDelay < 0 {
		errs = append(errs, errors.New("intervals must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid tray app config: %w", err)
	}
	return nil
}

// App is the tray's logic: it polls Fleet, keeps the menu and opens pages.
type App struct {
	cfg     Config
	clk     clock.Clock
	log     zerolog.Logger
	client  *Client
	links   Links
	backoff *backoff.Backoff
	file    TokenFile // Run's goroutine only

	tokenProblem string // last token error logged, so it is logged once

	mu    sync.Mutex
	token string
	state State
	menu  Menu
	shown bool
}

// New checks cfg and returns the app, at "Connecting...".
func New(cfg Config) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	b, err := backoff.New(cfg.OfflineBackoff)
	if err != nil {
		return nil, fmt.Errorf("invalid tray app config: %w", err)
	}
	a := &App{
		cfg:     cfg,
		clk:     cfg.Clock,
		log:     cfg.Logger,
		client:  NewClient(cfg.HTTPClient, cfg.Settings.FleetURL),
		links:   NewLinks(cfg.Settings.FleetURL, cfg.Settings.AlternativeBrowserHost),
		backoff: b,
		file:    TokenFile{Path: cfg.Settings.IdentifierPath},
	}
	a.menu = BuildMenu(cfg.Version, a.state)
	return a, nil
}

// Menu is the menu as it stands.
func (a *App) Menu() Menu {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.menu
}

// Run polls Fleet and watches the token until ctx ends; it returns nil then.
func (a *App) Run(ctx context.Context) error {
	a.setState(a.currentState()) // draw "Connecting..." at once
	a.reloadToken()
	poll := a.clk.NewTimer(0)
	check := a.clk.NewTimer(a.cfg.TokenCheckInterval)
	defer func() {
		poll.Stop()
		check.Stop()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-check.C():
			rotated := a.checkToken()
			check = a.clk.NewTimer(a.cfg.TokenCheckInterval)
			if rotated {
				// A new token: ask Fleet now, the menu's pages follow it.
				poll.Stop()
				poll = a.clk.NewTimer(0)
			}
		case <-poll.C():
			poll = a.clk.NewTimer(a.poll(ctx))
		}
	}
}

// ErrItemDisabled is a click on an item the menu shows disabled (the host
// sends it anyway, or a stale click arrives after the state changed).
var ErrItemDisabled = errors.New("the menu item is disabled")

// Open opens the page of item with the current token.
func (a *App) Open(ctx context.Context, item ItemID) error {
	a.mu.Lock()
	tok, m := a.token, a.menu
	a.mu.Unlock()
	if int(item) < 0 || item >= itemCount || !m.Item(item).Enabled {
		return fmt.Errorf("open %s: %w", item, ErrItemDisabled)
	}
	u, ok := a.links.URL(item, tok)
	if !ok || tok == "" {
		return fmt.Errorf("open %s: the item has no page", item)
	}
	return a.cfg.Opener.Open(ctx, u)
}

// poll asks Fleet once (with the 401 retries) and returns the wait before
// the next poll.
func (a *App) poll(ctx context.Context) time.Duration {
	tok := a.currentToken()
	if tok == "" {
		// Still no token: the token check polls as soon as one is there.
		return a.cfg.Settings.PollInterval
	}
	sum, err := a.client.Summary(ctx, tok)
	for retry := 1; errors.Is(err, ErrUnauthorized) && retry <= a.cfg.AuthRetries; retry++ {
		a.log.Debug().Int("retry", retry).Msg("fleet refused the device token; reading it again")
		if !a.sleep(ctx, time.Duration(retry)*a.cfg.AuthRetryDelay) {
			return a.cfg.Settings.PollInterval
		}
		a.reloadToken()
		sum, err = a.client.Summary(ctx, a.currentToken())
	}
	if ctx.Err() != nil {
		return a.cfg.Settings.PollInterval
	}
	prev := a.currentState().Status
	if err != nil {
		if prev != StatusOffline {
			a.log.Warn().Err(err).Msg("fleet did not answer the tray app; showing offline and backing off")
		} else {
			a.log.Debug().Err(err).Msg("fleet still does not answer")
		}
		a.setState(State{Status: StatusOffline})
		return a.backoff.Next(0)
	}
	a.backoff.Reset()
	st := State{Status: StatusOnline, FailingPolicies: sum.FailingPolicies, SelfService: sum.SelfService}
	if prev != StatusOnline {
		ev := a.log.Info()
		if st.FailingPolicies != nil {
			ev = ev.Uint("failing_policies", *st.FailingPolicies)
		}
		ev.Msg("connected to fleet")
	}
	a.setState(st)
	return a.cfg.Settings.PollInterval
}

// checkToken stats the identifier file and reads it when it changed; it
// reports whether the token changed.
func (a *App) checkToken() bool {
	changed, err := a.file.Changed()
	if err != nil {
		a.noteTokenProblem(err)
		return false
	}
	if !changed {
		return false
	}
	return a.reloadToken()
}

// reloadToken reads the identifier file and reports whether the token
// changed. A failed read keeps the token it had.
func (a *App) reloadToken() bool {
	tok, err := a.file.Read()
	if err != nil {
		a.noteTokenProblem(err)
		return false
	}
	if a.tokenProblem != "" {
		a.log.Info().Msg("device token readable again")
		a.tokenProblem = ""
	}
	a.mu.Lock()
	old := a.token
	a.token = tok
	a.mu.Unlock()
	if old != "" && old != tok {
		a.log.Info().Msg("device token rotated")
	}
	return old != tok
}

func (a *App) noteTokenProblem(err error) {
	// The stat of the check and the open of a read fail alike for one
	// cause: key on the cause, so it is logged once.
	msg := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		msg = pe.Err.Error()
	}
	if msg != a.tokenProblem {
		a.tokenProblem = msg
		a.log.Warn().Err(err).Str("path", a.file.Path).Msg("cannot read the device token; waiting for orbit to write it")
	}
}

func (a *App) sleep(ctx context.Context, d time.Duration) bool { return clock.Sleep(ctx, a.clk, d) }

func (a *App) currentToken() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.token
}

func (a *App) currentState() State {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state
}

// setState rebuilds the menu and hands it to the view when it changed.
func (a *App) setState(s State) {
	m := BuildMenu(a.cfg.Version, s)
	a.mu.Lock()
	a.state = s
	changed := !a.shown || m != a.menu
	a.menu, a.shown = m, true
	a.mu.Unlock()
	if changed {
		a.cfg.Menu.ShowMenu(m)
	}
}
