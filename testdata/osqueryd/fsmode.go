package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// calendarFormat is osquery's calendarTime ("Fri Oct  6 18:13:04 2023 UTC").
const calendarFormat = "Mon Jan _2 15:04:05 2006 UTC"

// resultLine is one osquery result log line; field order follows osquery.
type resultLine struct {
	Name           string              `json:"name"`
	HostIdentifier string              `json:"hostIdentifier"`
	CalendarTime   string              `json:"calendarTime"`
	UnixTime       int64               `json:"unixTime"`
	Epoch          int64               `json:"epoch"`
	Counter        int64               `json:"counter"`
	Numerics       bool                `json:"numerics"`
	Decorations    map[string]string   `json:"decorations"`
	Columns        map[string]string   `json:"columns,omitempty"`
	Snapshot       []map[string]string `json:"snapshot,omitempty"`
	Action         string              `json:"action"`
}

// statusJSON is a status log line as osquery's TLS logger sends it (all
// values strings).
type statusJSON struct {
	HostIdentifier string            `json:"hostIdentifier"`
	CalendarTime   string            `json:"calendarTime"`
	UnixTime       string            `json:"unixTime"`
	Severity       string            `json:"severity"`
	Filename       string            `json:"filename"`
	Line           string            `json:"line"`
	Message        string            `json:"message"`
	Version        string            `json:"version"`
	Decorations    map[string]string `json:"decorations"`
}

// logSinks fans result and status lines out to the active logger plugins.
type logSinks struct {
	d      *daemon
	mu     sync.Mutex
	dir    string // filesystem plugin directory, "" when not active
	mode   os.FileMode
	stdout io.Writer
	tls    *tlsLogger
	decos  func() map[string]string
}

func (d *daemon) newSinks(tl *tlsLogger) *logSinks {
	s := &logSinks{d: d, tls: tl, mode: 0o640}
	plugins := d.fs.String("logger_plugin")
	if hasPlugin(plugins, "filesystem") && d.fs.IsSet("logger_path") && d.fs.String("logger_path") != "" {
		if m, err := strconv.ParseUint(d.fs.String("logger_mode"), 8, 32); err == nil {
			s.mode = os.FileMode(m)
		}
		dir := d.fs.String("logger_path")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			d.log.Error("cannot create logger_path: filesystem logger disabled", "path", dir, "err", err)
		} else {
			s.dir = dir
		}
	}
	if hasPlugin(plugins, "stdout") {
		s.stdout = os.Stdout
	}
	for _, p := range strings.Split(plugins, ",") {
		switch p = strings.TrimSpace(p); p {
		case "filesystem", "tls", "stdout", "":
		default:
			d.log.Warn("logger plugin not available in the stand-in: ignored", "plugin", p)
		}
	}
	return s
}

func (s *logSinks) appendFile(name string, line []byte) { s.appendRotated(name, line, false) }

// appendRotated appends one line; with rotate and --logger_rotate, as
// osquery's LogRotate does after a write that brings the file to
// --logger_rotate_size: the file becomes <name>.1, <name>.N becomes
// <name>.N+1, and only --logger_rotate_max_files rotated files are kept.
// (osquery also compresses <name>.2 and older with zstd, as .N.zst; the
// stand-in keeps them plain.)
func (s *logSinks) appendRotated(name string, line []byte, rotate bool) {
	if s.dir == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	path := filepath.Join(s.dir, name)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, s.mode)
	if err != nil {
		return
	}
	_, _ = f.Write(append(line, '\n'))
	st, err := f.Stat()
	f.Close()
	fs := s.d.fs
	if !rotate || err != nil || !fs.Bool("logger_rotate") || st.Size() < fs.Int("logger_rotate_size") {
		return
	}
	rotateFile(path, int(fs.Int("logger_rotate_max_files")))
}

// rotateFile shifts path.N to path.N+1 (dropping those beyond max) and
// moves path to path.1.
func rotateFile(path string, max int) {
	if max < 1 {
		max = 1
	}
	for n := max; ; n++ { // older files from a larger limit go too
		if _, err := os.Stat(fmt.Sprintf("%s.%d", path, n)); err != nil {
			break
		}
		_ = os.Remove(fmt.Sprintf("%s.%d", path, n))
	}
	for n := max - 1; n >= 1; n-- {
		_ = os.Rename(fmt.Sprintf("%s.%d", path, n), fmt.Sprintf("%s.%d", path, n+1))
	}
	_ = os.Rename(path, path+".1")
}

func (s *logSinks) result(line []byte, snapshot bool) {
	if snapshot {
		s.appendRotated("osqueryd.snapshots.log", line, true)
	} else {
		s.appendRotated("osqueryd.results.log", line, true)
	}
	if s.stdout != nil {
		s.mu.Lock()
		fmt.Fprintf(s.stdout, "%s\n", line)
		s.mu.Unlock()
	}
	if s.tls != nil {
		s.tls.add("result", line)
	}
}

func (s *logSinks) status(sl statusLine) {
	if s.dir != "" {
		text := fmt.Sprintf("%c%s %d %s:%d] %s", "IWE"[sl.Severity], sl.Time.UTC().Format("0102 15:04:05.000000"),
			os.Getpid(), sl.Filename, sl.Line, sl.Message)
		s.appendFile("osqueryd.INFO", []byte(text))
	}
	if s.tls != nil && !s.d.fs.Bool("tls_disable_status_log") && int64(sl.Severity) >= s.d.fs.Int("logger_min_status") {
		decos := map[string]string{}
		if s.decos != nil {
			decos = s.decos()
		}
		b, err := json.Marshal(statusJSON{
			HostIdentifier: s.d.hostIdentifier, CalendarTime: sl.Time.UTC().Format(calendarFormat),
			UnixTime: itoa(sl.Time.Unix()), Severity: itoa(int64(sl.Severity)), Filename: sl.Filename,
			Line: itoa(int64(sl.Line)), Message: sl.Message, Version: version, Decorations: decos,
		})
		if err == nil {
			s.tls.add("status", b)
		}
	}
}

// jobState is what a differential query remembers between runs.
type jobState struct {
	job
	prev    map[string]int // canonical row -> count, from the last run
	counter int64
	ran     bool
}

// scheduler owns the loaded config and runs its queries.
type scheduler struct {
	d     *daemon
	sinks *logSinks

	mu          sync.Mutex
	rawHash     string
	loadDecos   map[string]string
	alwaysDecos []string
	states      map[string]*jobState
	cancel      context.CancelFunc
	wg          sync.WaitGroup
}

func newScheduler(d *daemon, sinks *logSinks) *scheduler {
	s := &scheduler{d: d, sinks: sinks, states: map[string]*jobState{}, loadDecos: map[string]string{}}
	sinks.decos = s.decorations
	return s
}

// apply loads a new config. A bad config is logged and the previous one
// stays in effect, as in osqueryd.
func (s *scheduler) apply(ctx context.Context, raw []byte) {
	hash := configHash(raw)
	s.mu.Lock()
	same := hash == s.rawHash
	s.mu.Unlock()
	if same {
		return
	}
	cfg, err := parseConfig(raw)
	if err != nil {
		s.d.log.Error("error reading config: keeping the previous config", "err", err)
		return
	}
	s.d.applyOptions(cfg.Options)
	jobs, errs := cfg.jobs(s.d)
	for _, e := range errs {
		s.d.log.Warn("config entry ignored", "err", e)
	}
	decos := map[string]string{}
	for _, q := range cfg.Decorators.Load {
		mergeDecorations(s.d, decos, q)
	}
	s.d.env.setConfig(hash, true)
	s.d.log.Info("config loaded", "hash", hash, "queries", len(jobs))

	// Stop the running jobs before taking the lock: a job in progress
	// takes it to read decorations. apply and stop are only called from
	// the one config loop, so they never race each other.
	s.mu.Lock()
	oldCancel := s.cancel
	s.cancel = nil
	s.mu.Unlock()
	if oldCancel != nil {
		oldCancel()
	}
	s.wg.Wait()

	s.mu.Lock()
	defer s.mu.Unlock()
	s.rawHash = hash
	s.loadDecos = decos
	s.alwaysDecos = cfg.Decorators.Always
	states := map[string]*jobState{}
	for _, j := range jobs {
		st := s.states[j.name]
		if st == nil || st.query != j.query {
			st = s.loadState(j)
		}
		st.job = j
		states[j.name] = st
	}
	s.states = states
	jctx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	for _, st := range states {
		s.wg.Add(1)
		go s.loop(jctx, st)
	}
}

func (s *scheduler) stop() {
	s.mu.Lock()
	cancel := s.cancel
	s.cancel = nil
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.wg.Wait()
}

func mergeDecorations(d *daemon, into map[string]string, q string) {
	res, err := runQuery(d.env, q)
	if err != nil {
		d.log.Warn("decorator query failed", "err", err)
		return
	}
	if len(res.rows) > 0 {
		for k, v := range res.rows[0] {
			into[k] = v
		}
	}
}

func (s *scheduler) decorations() map[string]string {
	s.mu.Lock()
	out := make(map[string]string, len(s.loadDecos))
	for k, v := range s.loadDecos {
		out[k] = v
	}
	always := s.alwaysDecos
	s.mu.Unlock()
	for _, q := range always {
		mergeDecorations(s.d, out, q)
	}
	return out
}

// loop runs one query every interval; the first run is one interval after
// the config loads, as osquery's scheduler does.
func (s *scheduler) loop(ctx context.Context, st *jobState) {
	defer s.wg.Done()
	t := time.NewTicker(s.d.scaled(st.interval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.runJob(st)
		}
	}
}

// savedState is a query's differential state on disk. osqueryd keeps it in
// its database, so a restart does not log every row as "added" again.
type savedState struct {
	Query   string         `json:"query"`
	Prev    map[string]int `json:"prev"`
	Counter int64          `json:"counter"`
}

func (s *scheduler) statePath(name string) string {
	fs := s.d.fs
	if !fs.IsSet("database_path") || fs.String("database_path") == "" || fs.Bool("disable_database") {
		return ""
	}
	return filepath.Join(fs.String("database_path"), "standin_queries", configHash([]byte(name))+".json")
}

func (s *scheduler) loadState(j job) *jobState {
	st := &jobState{}
	p := s.statePath(j.name)
	if p == "" {
		return st
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return st
	}
	var saved savedState
	// A changed query starts over, as osquery does.
	if json.Unmarshal(b, &saved) == nil && saved.Query == j.query {
		st.prev, st.counter, st.ran = saved.Prev, saved.Counter, saved.Counter > 0
	}
	return st
}

func (s *scheduler) saveState(st *jobState) {
	p := s.statePath(st.name)
	if p == "" {
		return
	}
	b, err := json.Marshal(savedState{Query: st.query, Prev: st.prev, Counter: st.counter})
	if err != nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return
	}
	tmp := p + ".tmp"
	if os.WriteFile(tmp, b, 0o600) == nil {
		_ = os.Rename(tmp, p)
	}
}

func canonicalRow(r map[string]string) string {
	b, _ := json.Marshal(r) // map keys are sorted: a stable identity
	return string(b)
}

func (s *scheduler) runJob(st *jobState) {
	res, err := runQuery(s.d.env, st.query)
	if err != nil {
		s.d.log.Warn("error executing scheduled query", "name", st.name, "err", err)
		return
	}
	now := s.d.env.now()
	base := resultLine{
		Name: st.name, HostIdentifier: s.d.hostIdentifier, CalendarTime: now.UTC().Format(calendarFormat),
		UnixTime: now.Unix(), Epoch: s.d.fs.Int("schedule_epoch"), Numerics: s.d.fs.Bool("logger_numerics"),
		Decorations: s.decorations(),
	}
	if st.snapshot {
		line := base
		line.Counter = st.counter
		line.Snapshot = res.rows
		line.Action = "snapshot"
		st.counter++
		s.saveState(st)
		if b, err := json.Marshal(line); err == nil {
			s.sinks.result(b, true)
		}
		return
	}
	cur := map[string]int{}
	for _, r := range res.rows {
		cur[canonicalRow(r)]++
	}
	var added, removed []map[string]string
	emitted := map[string]int{}
	for _, r := range res.rows {
		// A row is new when it occurs more often than in the last run.
		k := canonicalRow(r)
		if emitted[k] < cur[k]-st.prev[k] {
			emitted[k]++
			added = append(added, r)
		}
	}
	if st.removed {
		keys := make([]string, 0, len(st.prev))
		for k := range st.prev {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for i := 0; i < st.prev[k]-cur[k]; i++ {
				var r map[string]string
				_ = json.Unmarshal([]byte(k), &r)
				removed = append(removed, r)
			}
		}
	}
	counter := st.counter
	st.prev = cur
	st.counter++
	st.ran = true
	s.saveState(st)
	for _, group := range []struct {
		action string
		rows   []map[string]string
	}{{"added", added}, {"removed", removed}} {
		for _, r := range group.rows {
			line := base
			line.Counter = counter
			line.Columns = r
			line.Action = group.action
			if b, err := json.Marshal(line); err == nil {
				s.sinks.result(b, false)
			}
		}
	}
}

// startFilesystem runs the filesystem config plugin: read config_path now
// and every config_refresh seconds.
func (d *daemon) startFilesystem(ctx context.Context, wg *sync.WaitGroup, sched *scheduler) {
	path := d.fs.String("config_path")
	load := func() {
		b, err := os.ReadFile(path)
		if err != nil {
			d.log.Error("error reading config file: keeping the previous config", "path", path, "err", err)
			return
		}
		sched.apply(ctx, b)
	}
	load()
	d.refreshConfig(ctx, wg, sched, load)
}

// refreshConfig calls load every config_refresh seconds (never when it is
// 0, as osqueryd) until ctx ends, then stops the schedule.
func (d *daemon) refreshConfig(ctx context.Context, wg *sync.WaitGroup, sched *scheduler, load func()) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer sched.stop()
		for {
			refresh := d.fs.Int("config_refresh")
			var tick <-chan time.Time
			if refresh > 0 {
				tick = time.After(d.scaled(refresh))
			}
			select {
			case <-ctx.Done():
				return
			case <-tick:
				load()
			}
		}
	}()
}
