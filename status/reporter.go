package status

import (
	"os"
	"sync"

	"github.com/rs/zerolog"
)

// ReporterConfig configures a Reporter.
type ReporterConfig struct {
	Store  *Store
	Logger zerolog.Logger
	// Binary returns the executable a component runs, for the Path and
	// Version of a running component; nil, or an error, leaves both as
	// they are.
	Binary func(component string) (string, error)
	// Version runs a component's binary and returns its version ("" if
	// unknown). It is called once per binary file (path and mtime), so a
	// restart does not cost a probe; nil never probes.
	Version func(component, path string) string
}

// Reporter copies process status into the state file off the process
// runner's goroutine, so a restart never waits for an fsync or a version
// probe. Only the latest status of each component is written.
type Reporter struct {
	cfg      ReporterConfig
	versions versionCache

	mu      sync.Mutex
	pending map[string]Process
	forget  map[string]bool // components to remove; a later Report wins
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

// NewReporter starts the writer; Close stops it.
func NewReporter(cfg ReporterConfig) *Reporter {
	r := &Reporter{
		cfg:     cfg,
		pending: map[string]Process{},
		forget:  map[string]bool{},
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go r.loop()
	return r
}

// Report records a status; it never blocks. It is the process runner's
// OnStatus.
func (r *Reporter) Report(p Process) {
	r.mu.Lock()
	r.pending[p.Name] = p
	delete(r.forget, p.Name)
	r.mu.Unlock()
	r.poke()
}

// Forget removes a component from the state file (a user's tray app once
// their session has ended); a later Report brings it back. It never blocks.
func (r *Reporter) Forget(name string) {
	r.mu.Lock()
	delete(r.pending, name)
	r.forget[name] = true
	r.mu.Unlock()
	r.poke()
}

func (r *Reporter) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Close writes what is pending and stops the writer.
func (r *Reporter) Close() {
	close(r.stop)
	<-r.done
}

func (r *Reporter) loop() {
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

func (r *Reporter) flush() {
	r.mu.Lock()
	batch, gone := r.pending, r.forget
	r.pending, r.forget = map[string]Process{}, map[string]bool{}
	r.mu.Unlock()
	for name := range gone {
		if err := r.cfg.Store.RemoveComponent(name); err != nil {
			r.cfg.Logger.Debug().Err(err).Msg("cannot update state file")
		}
	}
	for _, p := range batch {
		var path, ver string
		if p.State == StateRunning && r.cfg.Binary != nil {
			if bin, err := r.cfg.Binary(p.Name); err == nil {
				path, ver = bin, r.versions.get(p.Name, bin, r.cfg.Version)
			}
		}
		err := r.cfg.Store.UpdateComponent(p.Name, func(c *Component) {
			c.Process = p
			if path != "" {
				c.Path, c.Version = path, ver
			}
		})
		if err != nil {
			r.cfg.Logger.Debug().Err(err).Msg("cannot update state file")
		}
	}
}

// versionCache remembers the version of each component's binary file.
type versionCache struct {
	mu      sync.Mutex
	entries map[string]versionEntry // by component
}

type versionEntry struct{ key, value string }

func (v *versionCache) get(component, path string, probe func(component, path string) string) string {
	if probe == nil {
		return ""
	}
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	key := path + "@" + fi.ModTime().String()
	v.mu.Lock()
	defer v.mu.Unlock()
	if e, ok := v.entries[component]; ok && e.key == key {
		return e.value
	}
	value := probe(component, path)
	if value == "" {
		return "" // probe again next time: the binary may answer then
	}
	if v.entries == nil {
		v.entries = map[string]versionEntry{}
	}
	v.entries[component] = versionEntry{key, value}
	return value
}
