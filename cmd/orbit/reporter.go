package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/internal/capped"
	"github.com/orbitagent/orbit/status"
	"github.com/orbitagent/orbit/supervisor"
	"github.com/orbitagent/orbit/supervisor/osqueryd"
)

// stateReporter copies process status into the state file off the process
// runner's goroutine, so a restart never waits for an fsync or a version
// probe. Only the latest status of each component is written.
type stateReporter struct {
	store    *status.Store
	log      zerolog.Logger
	path     func() (string, error)
	versions *versionProbe

	mu      sync.Mutex
	pending map[string]supervisor.ProcessStatus
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

func newStateReporter(store *status.Store, log zerolog.Logger, path func() (string, error)) *stateReporter {
	r := &stateReporter{
		store: store, log: log, path: path, versions: &versionProbe{},
		pending: map[string]supervisor.ProcessStatus{},
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go r.loop()
	return r
}

// Report records a status; it never blocks.
func (r *stateReporter) Report(ps supervisor.ProcessStatus) {
	r.mu.Lock()
	r.pending[ps.Name] = ps
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Close writes what is pending and stops the writer.
func (r *stateReporter) Close() {
	close(r.stop)
	<-r.done
}

func (r *stateReporter) loop() {
	defer close(r.done)
	for {
		select {
		case <-r.wake:
			r.flush()
		case <-r.stop:
			r.flush()
			return
		}
	}
}

func (r *stateReporter) flush() {
	r.mu.Lock()
	batch := r.pending
	r.pending = map[string]supervisor.ProcessStatus{}
	r.mu.Unlock()
	for _, ps := range batch {
		var path, ver string
		if ps.State == supervisor.StateRunning {
			if p, err := r.path(); err == nil {
				path, ver = p, r.versions.get(p)
			}
		}
		err := r.store.UpdateComponent(ps.Name, func(c *status.Component) {
			c.State = ps.State
			c.PID = ps.PID
			c.Restarts = ps.Restarts
			c.ConsecutiveFailures = ps.ConsecutiveFailures
			c.CrashLoop = ps.CrashLoop
			c.LastError = ps.LastError
			c.LastExitCode = ps.LastExitCode
			c.StartedAt = ps.StartedAt
			c.NextStartAt = ps.NextStartAt
			if path != "" {
				c.Path, c.Version = path, ver
			}
		})
		if err != nil {
			r.log.Debug().Err(err).Msg("cannot update state file")
		}
	}
}

// versionProbe runs `<binary> --version` once per binary file (path and
// mtime), so status shows the running version without a probe per restart.
type versionProbe struct {
	mu    sync.Mutex
	key   string
	value string
}

func (v *versionProbe) get(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	key := path + "@" + fi.ModTime().String()
	v.mu.Lock()
	defer v.mu.Unlock()
	if key == v.key {
		return v.value
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out := &capped.Buffer{Max: 4096}
	cmd := exec.CommandContext(ctx, path, "--version")
	cmd.Stdout = out
	cmd.WaitDelay = time.Second
	cmd.Env = osqueryd.ChildEnv(os.Environ(), "")
	if err := cmd.Run(); err != nil {
		return ""
	}
	f := strings.Fields(out.String())
	if len(f) == 0 {
		return ""
	}
	v.key, v.value = key, f[len(f)-1]
	return v.value
}
