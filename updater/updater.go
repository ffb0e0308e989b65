package updater

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	tufconfig "github.com/theupdateframework/go-tuf/v2/metadata/config"
	tufupdater "github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/orbitagent/orbit/backoff"
	"github.com/orbitagent/orbit/clock"
	"github.com/orbitagent/orbit/component"
	"github.com/orbitagent/orbit/internal/httpclient"
	"github.com/orbitagent/orbit/internal/safefile"
	"github.com/orbitagent/orbit/rootdir"
	"github.com/orbitagent/orbit/status"
)

// Restarter restarts one supervised component after its binary changed.
type Restarter interface{ Restart(c component.Name) }

// Health tells whether a component keeps crashing since it was last started.
type Health interface{ CrashLooping(c component.Name) bool }

// ErrNotInstalled means a component has no installed binary yet.
var ErrNotInstalled = errors.New("not installed yet")

// Config configures New. Zero durations take the defaults in brackets.
type Config struct {
	Layout    rootdir.Layout
	UpdateURL string // repository base; metadata at /, targets under /targets/
	// RootJSON is the bundled trusted root (see ParseRoots).
	RootJSON   []byte
	Platform   string // [DefaultPlatform()]
	Components []Component

	Interval         time.Duration // between checks [15m]
	MaxSplay         time.Duration // cap of the first check's random delay [10m]
	RollbackWindow   time.Duration // watch after an install [10m]
	HealthInterval   time.Duration // how often Health is asked in the window [10s]
	SelfHealthyAfter time.Duration // a new orbit is healthy after running this long [1m]
	MaxSelfBoots     int           // boots of a new orbit before CheckBoot rolls it back [3]
	MetadataTimeout  time.Duration // whole metadata refresh [2m]
	DownloadTimeout  time.Duration // one target download [30m]
	ExecTimeout      time.Duration // exec check [20s]

	// Executable is this process's executable, which MarkHealthy compares
	// with a pending new orbit [os.Executable()].
	Executable string

	HTTPClient *http.Client // [httpclient.New(httpclient.Config{})]
	// Clock drives splay, intervals, rollback windows and rest periods,
	// and judges metadata expiry [clock.Real()].
	Clock clock.Clock
	Rand  *rand.Rand // splay [random]

	Restarter Restarter
	Health    Health
	// SelfUpdated is called once orbit itself was replaced, with the stable
	// path to exec. It must only signal (e.g. cancel the run group) and
	// return: it runs on Run's goroutine.
	SelfUpdated func(path string)
	Status      *status.Store
	Logger      zerolog.Logger
}

// Updater keeps the configured components current.
type Updater struct {
	cfg Config
	log zerolog.Logger

	// bundleTried holds components whose bundled archive failed to be
	// adopted this run; guarded by checkMu.
	bundleTried map[component.Name]bool

	// checkMu serializes checks, rollbacks and MarkHealthy; stMu guards st
	// for quick readers such as ExecPath while a download is running.
	checkMu sync.Mutex
	stMu    sync.Mutex
	st      *state
	// selfUpdating stops further checks once orbit handed over to its new binary.
	selfUpdating bool

	// missingWarned holds targets already reported missing; guarded by checkMu.
	missingWarned map[string]bool
	// retrying is the class of each component's current run of failures
	// that are not the release's; guarded by checkMu.
	retrying map[component.Name]failureClass

	chMu     sync.Mutex
	channels map[component.Name]string
	// exts are the osquery extensions Fleet asks for (SetExtensions);
	// dropped ones are removed from disk at the next check.
	exts    []Component
	dropped map[component.Name]bool
	wake    chan struct{}
}

// CheckResult says what one check did.
type CheckResult struct {
	Installed []string         // components installed or replaced
	Unchanged []string         // already current
	Missing   []string         // no target for this platform and channel
	Resting   []string         // target on cooldown after failures
	Failed    map[string]error // install failures
	// Retrying are the failed components whose failure was not the
	// release's (disk, permission, network, server): Run checks again soon,
	// with backoff.
	Retrying    []string
	RolledBack  []string
	SelfUpdated bool
	Requests    int64 // HTTP requests made
	Bytes       int64 // response body bytes read
}

// New validates cfg, loads the updater state and adopts binaries already in
// bin/ (bundled by the package) so they run without any network.
func New(cfg Config) (*Updater, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("updater: %w", err)
	}
	if cfg.Platform == "" {
		cfg.Platform = DefaultPlatform()
	}
	setDefault(&cfg.Interval, 15*time.Minute)
	setDefault(&cfg.MaxSplay, 10*time.Minute)
	setDefault(&cfg.RollbackWindow, 10*time.Minute)
	setDefault(&cfg.HealthInterval, 10*time.Second)
	setDefault(&cfg.SelfHealthyAfter, time.Minute)
	setDefault(&cfg.MetadataTimeout, 2*time.Minute)
	setDefault(&cfg.DownloadTimeout, 30*time.Minute)
	setDefault(&cfg.ExecTimeout, 20*time.Second)
	if cfg.MaxSelfBoots <= 0 {
		cfg.MaxSelfBoots = 3
	}
	if err := defaultClients(&cfg.HTTPClient, &cfg.Clock); err != nil {
		return nil, err
	}
	if cfg.Executable == "" {
		cfg.Executable, _ = os.Executable()
	}
	// Whatever client it was given, the fetcher stays on the repository's
	// origin and never downgrades to http.
	cfg.HTTPClient = httpclient.WithSameOrigin(cfg.HTTPClient)
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if err := os.MkdirAll(cfg.Layout.TUF(), 0o700); err != nil {
		return nil, fmt.Errorf("updater: create %s: %w (check that orbit runs as root)", cfg.Layout.TUF(), err)
	}
	// The trusted root and the record of what is installed (which says what
	// runs as root) live there.
	if err := cfg.Layout.CheckWritableDir(cfg.Layout.TUF()); err != nil {
		return nil, fmt.Errorf("updater: %w: %w", errOpenDir, err)
	}
	u := &Updater{
		cfg:      cfg,
		log:      cfg.Logger.With().Str("actor", "updater").Logger(),
		channels: map[component.Name]string{},
		dropped:  map[component.Name]bool{},
		wake:     make(chan struct{}, 1),
		retrying: map[component.Name]failureClass{},
	}
	st, err := loadState(cfg.Layout)
	if err != nil {
		u.log.Warn().Err(err).Msg("updater state unreadable, starting over")
	}
	st.anchor(cfg.Clock.Now(), cfg.Clock.Mono(), cfg.RollbackWindow)
	u.st = st
	u.cleanStaging()
	u.recoverAndSeed()
	return u, nil
}

// cleanStaging removes downloads left by a run that was killed mid-way; only
// one orbit runs per root, so none of them is in progress.
func (u *Updater) cleanStaging() {
	ents, err := os.ReadDir(u.cfg.Layout.Staging())
	if err != nil {
		return
	}
	for _, e := range ents {
		p := filepath.Join(u.cfg.Layout.Staging(), e.Name())
		switch {
		case e.IsDir() && strings.HasPrefix(e.Name(), stagingPrefix):
			_ = os.RemoveAll(p)
		case strings.Contains(e.Name(), ".download-"): // left by older versions
			_ = os.Remove(p)
		}
	}
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// recoverAndSeed repairs a replace interrupted on Windows (file missing,
// previous present) and adopts files already in bin/ as installed.
func (u *Updater) recoverAndSeed() {
	u.stMu.Lock()
	defer u.stMu.Unlock()
	changed := false
	for _, c := range u.cfg.Components {
		if c.SelfUpdate && u.st.SelfUpdate == nil {
			// A candidate left by an install killed before its commit.
			_ = os.Remove(candidatePath(c.Path(u.cfg.Layout, u.cfg.Platform)))
		}
		rec := u.st.Components[c.Name]
		if rec != nil {
			if !exists(rec.Path) && rec.Dir == "" && exists(rec.Path+".previous") {
				if err := restoreFile(rec.Path+".previous", rec.Path); err == nil {
					u.log.Warn().Str("component", string(c.Name)).Str("path", rec.Path).Msg("restored binary after an interrupted install")
				}
			}
			continue
		}
		if c.archive() {
			continue
		}
		p := c.Path(u.cfg.Layout, u.cfg.Platform)
		st, err := os.Stat(p)
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		// Hash left empty: the first check compares the file with the
		// target and adopts it without a download when they match.
		u.st.Components[c.Name] = &installed{
			Target: targetName(c, u.platform(c), c.Channel), Channel: c.Channel,
			Platform: u.platform(c), Path: p, Length: st.Size(),
		}
		changed = true
		u.log.Info().Str("component", string(c.Name)).Str("path", p).Msg("using bundled binary")
	}
	if changed {
		if err := u.st.save(u.cfg.Layout); err != nil {
			u.log.Warn().Err(err).Msg("cannot save updater state")
		}
	}
}

func (u *Updater) platform(c Component) string {
	if c.Platform != "" {
		return c.Platform
	}
	return u.cfg.Platform
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// SetChannels switches channels at run time (the Fleet server's
// update_channels); an empty value keeps the configured one. A change wakes
// Run for an immediate check.
func (u *Updater) SetChannels(orbit, osqueryd, desktop string) {
	u.chMu.Lock()
	changed := false
	for name, ch := range map[component.Name]string{component.Orbit: orbit, component.Osqueryd: osqueryd, component.Desktop: desktop} {
		if ch == "" {
			continue
		}
		if err := component.ValidateChannel(ch); err != nil {
			u.log.Warn().Err(err).Str("component", string(name)).Msg("ignoring channel from fleet")
			continue
		}
		if u.channels[name] != ch {
			u.channels[name] = ch
			changed = true
		}
	}
	u.chMu.Unlock()
	if changed {
		u.wakeUp()
	}
}

// wakeUp asks Run for a check now.
func (u *Updater) wakeUp() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// Channel is the channel in effect for a configured component (Fleet's
// update_channels may have changed it), "" for one the updater does not
// keep.
func (u *Updater) Channel(name component.Name) string {
	c, ok := u.component(name)
	if !ok {
		return ""
	}
	u.chMu.Lock()
	defer u.chMu.Unlock()
	if ch := u.channels[name]; ch != "" {
		return ch
	}
	return c.Channel
}

// components returns the configured components with run-time channels
// applied, orbit (SelfUpdate) last so the others are current before it
// hands over.
func (u *Updater) components() []Component {
	u.chMu.Lock()
	defer u.chMu.Unlock()
	out := make([]Component, 0, len(u.cfg.Components)+len(u.exts))
	for _, c := range u.cfg.Components {
		if ch := u.channels[c.Name]; ch != "" {
			c.Channel = ch
		}
		out = append(out, c)
	}
	out = append(out, u.exts...)
	sort.SliceStable(out, func(i, j int) bool { return out[j].SelfUpdate && !out[i].SelfUpdate })
	return out
}

// ExecPath is the executable a runner should start for component: the
// installed one, else the bundled file of the configured channel. Runners
// should ask again at each start, since an update or rollback moves it.
func (u *Updater) ExecPath(name component.Name) (string, error) {
	u.stMu.Lock()
	rec := u.st.Components[name]
	u.stMu.Unlock()
	if rec != nil && exists(rec.Path) {
		return rec.Path, nil
	}
	if c, ok := u.component(name); ok && !c.archive() {
		if p := c.Path(u.cfg.Layout, u.cfg.Platform); exists(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w (the updater installs it once the update server is reachable)", name, ErrNotInstalled)
}

// component returns the configured component (or extension) called name.
func (u *Updater) component(name component.Name) (Component, bool) {
	for _, c := range u.cfg.Components {
		if c.Name == name {
			return c, true
		}
	}
	u.chMu.Lock()
	defer u.chMu.Unlock()
	for _, c := range u.exts {
		if c.Name == name {
			return c, true
		}
	}
	return Component{}, false
}

// missingRetryFirst is the first retry delay while a component is missing.
const missingRetryFirst = 10 * time.Second

// Run checks at once for components that are not installed, then after a
// random splay, then every Interval, and watches fresh installs for
// rollback. It returns nil when ctx is done; check errors are logged.
func (u *Updater) Run(ctx context.Context) error {
	clk := u.cfg.Clock
	// A component that is not installed at all is fetched at once, and
	// while one is still missing (first boot before the network is up), or
	// a check failed for a reason that is not a release's (a full disk, the
	// network, the server), checks repeat from 10 s, doubling up to the
	// interval, rather than leaving the host without osqueryd, or a good
	// release aside, for a splay plus an interval.
	retry, err := backoff.New(backoff.Config{Initial: missingRetryFirst, Max: u.cfg.Interval, Jitter: -1})
	if err != nil {
		return fmt.Errorf("updater: %w", err)
	}
	again := false
	if u.anyMissing() {
		again = u.runCheck(ctx)
	}
	var next clock.Timer
	if again || u.anyMissing() {
		next = clk.NewTimer(retry.Next(0))
	} else {
		splay := min(u.cfg.Interval, u.cfg.MaxSplay)
		next = clk.NewTimer(time.Duration(u.cfg.Rand.Int64N(int64(splay))))
	}
	schedule := func(again bool) {
		next.Stop()
		if again || u.anyMissing() {
			next = clk.NewTimer(retry.Next(0))
			return
		}
		retry.Reset()
		next = clk.NewTimer(u.cfg.Interval)
	}
	health := clk.NewTimer(u.cfg.HealthInterval)
	defer func() { next.Stop(); health.Stop() }()
	var selfHealthy <-chan time.Time // nil: no self-update pending
	u.stMu.Lock()
	pending := u.st.SelfUpdate != nil
	u.stMu.Unlock()
	if pending {
		t := clk.NewTimer(u.cfg.SelfHealthyAfter)
		defer t.Stop()
		selfHealthy = t.C()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-next.C():
			schedule(u.runCheck(ctx))
		case <-u.wake:
			schedule(u.runCheck(ctx))
		case <-health.C():
			u.checkMu.Lock()
			var res CheckResult
			u.evaluateWatchesLocked(ctx, &res)
			u.checkMu.Unlock()
			health = clk.NewTimer(u.cfg.HealthInterval)
		case <-selfHealthy:
			selfHealthy = nil
			if err := u.MarkHealthy(); err != nil {
				u.log.Warn().Err(err).Msg("cannot mark orbit healthy")
			}
		}
	}
}

// runCheck runs a check and reports whether it should be retried soon: it
// failed, or failed for some component, for a reason that is not a
// release's.
func (u *Updater) runCheck(ctx context.Context) (again bool) {
	res, err := u.Check(ctx)
	if err != nil {
		return !classify(err).counts() // logged by Check
	}
	u.log.Debug().Strs("installed", res.Installed).Strs("missing", res.Missing).Strs("retrying", res.Retrying).
		Int64("requests", res.Requests).Int64("bytes", res.Bytes).Msg("update check done")
	return len(res.Retrying) > 0
}

func (u *Updater) anyMissing() bool {
	for _, c := range u.components() {
		if _, err := u.ExecPath(c.Name); err != nil {
			return true
		}
	}
	return false
}

// Check runs one update check: health of fresh installs, metadata refresh,
// then each component. A failure of one component never stops the others;
// the returned error is for a failed metadata refresh only. After orbit
// itself was replaced it calls SelfUpdated (outside any lock; the hook must
// not wait for Run to return) and later checks do nothing.
func (u *Updater) Check(ctx context.Context) (CheckResult, error) {
	res, selfPath, err := u.check(ctx)
	if selfPath != "" && u.cfg.SelfUpdated != nil {
		u.cfg.SelfUpdated(selfPath)
	}
	return res, err
}

func (u *Updater) check(ctx context.Context) (res CheckResult, selfPath string, err error) {
	u.checkMu.Lock()
	defer u.checkMu.Unlock()
	res.Failed = map[string]error{}
	if u.selfUpdating {
		return res, "", nil
	}
	stats := &netStats{}
	defer func() {
		res.Requests = stats.requests.Load()
		res.Bytes = stats.bytes.Load()
	}()
	u.evaluateWatchesLocked(ctx, &res)
	u.removeDroppedLocked()
	// Bundled archives need no network: adopt them before asking it.
	u.adoptBundled(ctx)

	mctx, cancel := context.WithTimeout(ctx, u.cfg.MetadataTimeout)
	defer cancel()
	tu, err := u.refresh(mctx, stats)
	if err != nil {
		u.log.Warn().Err(err).Str("url", redact(u.cfg.UpdateURL)).Msg("update metadata refresh failed, installed versions keep running")
		return res, "", fmt.Errorf("update check: %w (installed versions keep running; the next check retries)", err)
	}
	trusted := tu.GetTrustedMetadataSet()
	consistent := trusted.Root.Signed.ConsistentSnapshot

	for _, c := range u.components() {
		name := targetName(c, u.platform(c), c.Channel)
		tf, err := u.lookup(ctx, stats, trusted.Root.Signed.Version, name)
		if errors.Is(err, &metadata.ErrRepository{}) {
			// Metadata on the way to the target failed verification (a
			// delegated role not signed by its delegator's keys): not a
			// missing target, and nothing to install from it.
			u.log.Error().Err(err).Str("component", string(c.Name)).Str("target", name).Msg("refusing the target: its delegated metadata does not verify")
			res.Failed[string(c.Name)] = fmt.Errorf("look up %s: %w", name, err)
			res.Retrying = append(res.Retrying, string(c.Name))
			continue
		}
		if err != nil {
			// Warn once per target, then quietly: a repository without,
			// say, an orbit build for this platform is a steady state.
			ev := u.log.Debug()
			if u.noteMissing(name) {
				ev = u.log.Warn()
			}
			ev.Err(err).Str("component", string(c.Name)).Str("target", name).Msg("target not in repository, keeping installed version")
			res.Missing = append(res.Missing, string(c.Name))
			continue
		}
		delete(u.missingWarned, name) // warn again if it disappears later
		ti, err := newTargetInfo(name, tf)
		if err != nil {
			u.log.Error().Err(err).Str("component", string(c.Name)).Msg("target metadata unusable")
			res.Failed[string(c.Name)] = err
			continue
		}
		action, err := u.updateComponent(ctx, stats, c, ti, consistent)
		if err == nil {
			delete(u.retrying, c.Name)
		}
		switch {
		case err != nil:
			res.Failed[string(c.Name)] = err
			if !classify(err).counts() {
				res.Retrying = append(res.Retrying, string(c.Name))
			}
		case action == actionUnchanged:
			res.Unchanged = append(res.Unchanged, string(c.Name))
		case action == actionResting:
			res.Resting = append(res.Resting, string(c.Name))
		case action == actionInstalled:
			res.Installed = append(res.Installed, string(c.Name))
			if c.SelfUpdate {
				selfPath = StableOrbitPath(u.cfg.Layout)
			}
		}
	}
	if selfPath != "" {
		u.selfUpdating = true
		res.SelfUpdated = true
	}
	return res, selfPath, nil
}

// redact hides a password in a URL before logging it.
func redact(s string) string {
	p, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}

// refresh makes a fresh go-tuf Updater (Refresh works once per Updater) and
// refreshes the top-level metadata.
func (u *Updater) refresh(ctx context.Context, stats *netStats) (*tufupdater.Updater, error) {
	root, err := u.trustedRoot()
	if err != nil {
		return nil, err
	}
	tcfg, err := tufconfig.New(u.cfg.UpdateURL, root)
	if err != nil {
		return nil, fmt.Errorf("configure TUF client: %w (check --update-url)", err)
	}
	tcfg.LocalMetadataDir = u.cfg.Layout.TUF()
	// DownloadTarget is never used: targets are streamed by download.
	tcfg.LocalTargetsDir = u.cfg.Layout.TUF()
	tcfg.Fetcher = &fetcher{ctx: ctx, client: u.cfg.HTTPClient, stats: stats}
	tu, err := tufupdater.New(tcfg)
	if err != nil {
		return nil, fmt.Errorf("load trusted TUF root: %w", err)
	}
	// Expiry is judged by the injected clock, the same one the rollback
	// window and rest periods use (the real time in production).
	tu.UnsafeSetRefTime(u.cfg.Clock.Now().UTC())
	if err := tu.Refresh(); err != nil {
		return nil, fmt.Errorf("refresh TUF metadata from %s: %w", u.cfg.UpdateURL, err)
	}
	return tu, nil
}

// lookup finds a target in a trusted metadata set of its own, loaded from
// the metadata the refresh has just verified and left on disk, with the
// root it arrived at (rootVersion). go-tuf keeps every delegated role it
// verified in one set by role name, so on one Updater a role verified
// under one delegator would be taken as it is when another delegator
// leads to the same name, without that delegator's keys (go-tuf v2.4.2,
// loadTargets). A fresh set per lookup verifies each role against the
// delegator that led to it. It costs no request: top-level metadata comes
// from disk (UnsafeLocalMode checks signatures and expiry, not freshness,
// which the refresh just did), and delegated roles are read from disk
// first, downloaded only when missing or stale.
func (u *Updater) lookup(ctx context.Context, stats *netStats, rootVersion int64, name string) (*metadata.TargetFiles, error) {
	root, err := safefile.ReadLimited(filepath.Join(u.cfg.Layout.TUF(), "root.json"), safefile.MaxRoot)
	if err != nil {
		return nil, fmt.Errorf("read the trusted root: %w", err)
	}
	tcfg, err := tufconfig.New(u.cfg.UpdateURL, root)
	if err != nil {
		return nil, fmt.Errorf("configure TUF client: %w (check --update-url)", err)
	}
	ctx, cancel := context.WithTimeout(ctx, u.cfg.MetadataTimeout)
	defer cancel()
	tcfg.LocalMetadataDir = u.cfg.Layout.TUF()
	tcfg.LocalTargetsDir = u.cfg.Layout.TUF()
	tcfg.UnsafeLocalMode = true
	tcfg.Fetcher = &fetcher{ctx: ctx, client: u.cfg.HTTPClient, stats: stats}
	tu, err := tufupdater.New(tcfg)
	if err != nil {
		return nil, fmt.Errorf("load trusted TUF root: %w", err)
	}
	if v := tu.GetTrustedMetadataSet().Root.Signed.Version; v != rootVersion {
		return nil, fmt.Errorf("trusted root on disk is version %d, the refresh arrived at %d: %w", v, rootVersion, &metadata.ErrRepository{Msg: "root changed during a check"})
	}
	tu.UnsafeSetRefTime(u.cfg.Clock.Now().UTC())
	if err := tu.Refresh(); err != nil {
		return nil, fmt.Errorf("load verified TUF metadata from %s: %w", u.cfg.Layout.TUF(), err)
	}
	return tu.GetTargetInfo(name)
}

// trustedRoot picks the root to start from: the cached one (it may have
// been rotated since the package was built) unless the bundled one has a
// higher version. go-tuf overwrites root.json with what it is given, so
// handing it the bundled root every time would undo rotations.
func (u *Updater) trustedRoot() ([]byte, error) {
	bundled := u.cfg.RootJSON
	bv, err := rootVersion(bundled)
	if err != nil {
		return nil, err
	}
	cached, err := safefile.ReadLimited(filepath.Join(u.cfg.Layout.TUF(), "root.json"), safefile.MaxRoot)
	if err != nil {
		return bundled, nil
	}
	cv, err := rootVersion(cached)
	if err != nil {
		u.log.Warn().Err(err).Msg("cached TUF root unreadable, using the bundled one")
		return bundled, nil
	}
	if bv > cv {
		return bundled, nil
	}
	return cached, nil
}

const (
	actionUnchanged = "unchanged"
	actionResting   = "resting"
	actionInstalled = "installed"
)

// updateComponent brings one component to the target ti.
func (u *Updater) updateComponent(ctx context.Context, stats *netStats, c Component, ti targetInfo, consistent bool) (string, error) {
	u.stMu.Lock()
	old := u.st.Components[c.Name]
	u.stMu.Unlock()
	platform := u.platform(c)
	if old != nil && old.Target == ti.Name && old.Hash == ti.Hash && exists(old.Path) {
		if old.Version != ti.Version {
			u.commit(func(s *state) { s.Components[c.Name].Version = ti.Version })
		}
		return actionUnchanged, nil
	}
	u.stMu.Lock()
	trial := u.st.SelfUpdate
	u.stMu.Unlock()
	if c.SelfUpdate && trial != nil && trial.Hash != ti.Hash {
		// A new orbit is on trial: a later release waits until it has
		// proven healthy (or been rolled back).
		u.log.Debug().Str("component", string(c.Name)).Str("pending", trial.Version).Str("version", ti.Version).Msg("orbit update waits for the one on trial")
		return actionUnchanged, nil
	}
	now := u.cfg.Clock.Now()
	u.stMu.Lock()
	resting, until := u.st.blocked(ti.Hash, now, u.cfg.Clock.Mono())
	u.stMu.Unlock()
	if resting {
		u.log.Debug().Str("component", string(c.Name)).Str("hash", ti.Hash).Time("until", until).Msg("target resting after failures")
		return actionResting, nil
	}

	dst := c.Path(u.cfg.Layout, u.cfg.Platform)
	if !c.archive() && fileMatches(dst, ti) {
		// Bundled by the package, or installed by a run killed before its
		// state write: adopt without downloading.
		rec := &installed{Target: ti.Name, Channel: c.Channel, Platform: platform, Path: dst, Version: ti.Version, Hash: ti.Hash, Length: ti.Length}
		restart := old != nil && old.Hash != "" && old.Hash != ti.Hash
		if old != nil && old.Hash != "" && old.Path != dst {
			p := *old
			p.Previous = nil
			rec.Previous = &p
		} else if old != nil && old.Hash != "" && exists(dst+".previous") {
			p := *old
			p.Path, p.Previous = dst+".previous", nil
			rec.Previous = &p
		}
		if err := u.commitInstall(c, rec, false); err != nil {
			return "", err
		}
		if !restart {
			// A bundled file is what is already running: nothing to restart.
			u.log.Info().Str("component", string(c.Name)).Str("version", rec.Version).Msg("bundled binary matches the repository")
			return actionUnchanged, nil
		}
		u.afterInstall(c, rec)
		return actionInstalled, nil
	}

	rec, err := u.install(ctx, stats, c, ti, old, consistent)
	if err != nil && ctx.Err() != nil {
		// Shutting down: not the target's fault.
		return "", fmt.Errorf("update of %s interrupted: %w", c.Name, err)
	}
	if err != nil {
		u.installFailed(c, ti, now, err)
		return "", err
	}
	u.afterInstall(c, rec)
	return actionInstalled, nil
}

// installFailed records a failed install. Only the release's own failure
// (a verified file that fails its exec check, a verified archive that may
// not be installed) counts against its hash; a full disk, a permission, the
// network or a mirror serving wrong bytes is retried with backoff and
// never rests the release. Called under checkMu.
func (u *Updater) installFailed(c Component, ti targetInfo, now time.Time, err error) {
	class := classify(err)
	ev := u.log.Warn()
	if class.counts() {
		ev = u.log.Error()
	}
	ev = ev.Err(err).Str("component", string(c.Name)).Str("target", ti.Name).Str("version", ti.Version).Str("failure_class", string(class))
	if !class.counts() {
		ev.Msg("update failed for a reason not the release's, retrying soon; previous version left in place")
		// One event per run of such failures, not one per retry.
		if u.retrying[c.Name] != class {
			u.retrying[c.Name] = class
			u.event(status.UpdateEvent{Component: string(c.Name), Action: "retrying", Version: ti.Version, Hash: ti.Hash,
				Message: fmt.Sprintf("%s: %v", class, err)})
		}
		return
	}
	delete(u.retrying, c.Name)
	u.stMu.Lock()
	f := u.st.fail(ti.Name, ti.Hash, err.Error(), now, u.cfg.Clock.Mono(), false)
	u.stMu.Unlock()
	u.saveState()
	ev.Int("failures", f.Count).Time("retry_after", f.Until).Msg("update failed, previous version left in place")
	u.event(status.UpdateEvent{Component: string(c.Name), Action: "failed", Version: ti.Version, Hash: ti.Hash, Message: err.Error()})
}

// afterInstall restarts the component (orbit itself is handed over by the
// SelfUpdated hook instead) and records events.
func (u *Updater) afterInstall(c Component, rec *installed) {
	u.log.Info().Str("component", string(c.Name)).Str("version", rec.Version).Str("channel", rec.Channel).Str("path", rec.Path).Msg("update installed")
	u.event(status.UpdateEvent{Component: string(c.Name), Action: "installed", Version: rec.Version, Hash: rec.Hash})
	if c.SelfUpdate {
		return
	}
	if u.cfg.Restarter != nil {
		u.cfg.Restarter.Restart(c.Name)
	}
}

// commitInstall records rec as installed: the commit point of an install.
// A new orbit on trial (a candidate, see selfupdate.go) is recorded as the
// pending self-update that CheckBoot runs and counts; any other orbit
// install (the first, with nothing to fall back on) repoints the stable
// path at once.
func (u *Updater) commitInstall(c Component, rec *installed, trial bool) error {
	now := u.cfg.Clock.Now()
	if c.SelfUpdate && !trial {
		if err := pointStable(StableOrbitPath(u.cfg.Layout), rec.Path); err != nil {
			return fmt.Errorf("point the service at the new orbit: %w", err)
		}
	}
	u.stMu.Lock()
	u.st.Components[c.Name] = rec
	delete(u.st.Watches, c.Name)
	switch {
	case trial:
		u.st.SelfUpdate = &selfUpdate{Component: c.Name, Hash: rec.Hash, Version: rec.Version, Path: rec.Path, Since: now}
	case rec.Previous != nil && !c.SelfUpdate:
		u.st.Watches[c.Name] = &watch{Since: now, Hash: rec.Hash, mono: u.cfg.Clock.Mono()}
	}
	delete(u.st.Failures, rec.Hash)
	err := u.st.save(u.cfg.Layout)
	u.stMu.Unlock()
	if err != nil {
		return err
	}
	if u.cfg.Status != nil {
		_ = u.cfg.Status.UpdateComponent(string(c.Name), func(sc *status.Component) {
			sc.Version, sc.Channel, sc.Path = rec.Version, rec.Channel, rec.Path
		})
	}
	return nil
}

func (u *Updater) commit(fn func(*state)) {
	u.stMu.Lock()
	fn(u.st)
	u.stMu.Unlock()
	u.saveState()
}

func (u *Updater) saveState() {
	u.stMu.Lock()
	err := u.st.save(u.cfg.Layout)
	u.stMu.Unlock()
	if err != nil {
		u.log.Warn().Err(err).Msg("cannot save updater state")
	}
}

func (u *Updater) event(ev status.UpdateEvent) {
	if u.cfg.Status == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = u.cfg.Clock.Now().UTC()
	}
	if err := u.cfg.Status.AddUpdateEvent(ev); err != nil {
		u.log.Warn().Err(err).Msg("cannot record update event")
	}
}

// noteMissing reports whether the missing target is news worth a warning.
// Called under checkMu.
func (u *Updater) noteMissing(name string) bool {
	if u.missingWarned == nil {
		u.missingWarned = map[string]bool{}
	}
	if u.missingWarned[name] {
		return false
	}
	u.missingWarned[name] = true
	return true
}
