package agent

import (
	"sync"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/component"
	"github.com/orbitagent/orbit/fleet"
	"github.com/orbitagent/orbit/osquery"
	"github.com/orbitagent/orbit/rootdir"
	"github.com/orbitagent/orbit/updater"
)

// extensionUpdater is what extensions needs of the updater.
type extensionUpdater interface {
	SetExtensions(exts []updater.Component) ([]component.Name, error)
	ExecPath(name component.Name) (string, error)
}

// extensions keeps the osquery extensions Fleet asks for: the updater
// fetches, verifies and installs them under bin/extensions/, and
// <root>/extensions.load lists the installed ones, so osqueryd (root)
// autoloads only files the updater verified. osqueryd restarts when the
// list changes or a listed extension was replaced.
type extensions struct {
	upd      extensionUpdater
	layout   rootdir.Layout
	osqueryd interface{ Restart() }
	log      zerolog.Logger

	mu    sync.Mutex
	names []component.Name // as Fleet lists them now
}

var _ fleet.ExtensionSetter = (*extensions)(nil)

// SetExtensions is the Fleet agent's hook, once per change of the list.
func (e *extensions) SetExtensions(exts []fleet.Extension) {
	comps := make([]updater.Component, len(exts))
	names := make([]component.Name, len(exts))
	for i, x := range exts {
		comps[i] = updater.ExtensionComponent(x.Name, x.Platform, x.Channel)
		names[i] = comps[i].Name
	}
	dropped, err := e.upd.SetExtensions(comps)
	if err != nil {
		e.log.Error().Err(err).Msg("osquery extensions from fleet not applied")
		return
	}
	e.mu.Lock()
	e.names = names
	e.mu.Unlock()
	for _, n := range dropped {
		e.log.Info().Str("component", string(n)).Msg("osquery extension dropped by fleet")
	}
	// New ones are listed once installed (installed, below); dropped ones
	// leave the list now, and osqueryd restarts once without them.
	if e.refresh() {
		e.log.Info().Msg("osquery extension list changed, restarting osqueryd")
		e.osqueryd.Restart()
	}
}

// installed is the updater's restart of an extension it installed or
// rolled back: osqueryd restarts to run it (listing it if it is new).
func (e *extensions) installed(name component.Name) {
	e.mu.Lock()
	wanted := false
	for _, n := range e.names {
		wanted = wanted || n == name
	}
	e.mu.Unlock()
	if !wanted {
		return
	}
	e.refresh()
	e.log.Info().Str("component", string(name)).Msg("osquery extension installed, restarting osqueryd")
	e.osqueryd.Restart()
}

// refresh writes extensions.load from the installed extensions of the
// current list and reports whether it changed.
func (e *extensions) refresh() bool {
	e.mu.Lock()
	names := append([]component.Name(nil), e.names...)
	e.mu.Unlock()
	var paths []string
	for _, n := range names {
		if p, err := e.upd.ExecPath(n); err == nil {
			paths = append(paths, p)
		}
	}
	changed, err := osquery.WriteAutoload(e.layout.ExtensionsAutoload(), paths)
	if err != nil {
		e.log.Error().Err(err).Msg("cannot write osqueryd's extension list")
		return false
	}
	return changed
}
