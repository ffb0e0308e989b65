// Package loglevel is orbit's log level, switchable while orbit runs (Fleet
// turns debug logging on and off from its config answer). The root logger
// logs at debug and writes through Level.Writer, which drops what is below
// the level in effect. zerolog.SetGlobalLevel would do the same for every
// logger in the process, the tests' and libraries' included; this is one
// value, handed to the code that switches it.
package loglevel

import (
	"io"
	"sync/atomic"

	"github.com/rs/zerolog"
)

// Level is info or debug. A Level made with the debug floor (orbit started
// with --debug) stays at debug: the server may turn debug on, never off.
type Level struct {
	floor bool
	debug atomic.Bool
}

// New returns a Level at debug when floor is set, else at info.
func New(floor bool) *Level {
	l := &Level{floor: floor}
	l.debug.Store(floor)
	return l
}

// SetDebug turns debug logging on or off and reports whether the level in
// effect changed (it does not when the floor keeps debug on).
func (l *Level) SetDebug(on bool) (changed bool) {
	on = on || l.floor
	return l.debug.Swap(on) != on
}

// Debug reports whether debug lines are written.
func (l *Level) Debug() bool { return l.debug.Load() }

// Threshold is the lowest level written.
func (l *Level) Threshold() zerolog.Level {
	if l.debug.Load() {
		return zerolog.DebugLevel
	}
	return zerolog.InfoLevel
}

// Writer returns w behind the level: events below the threshold are
// dropped, as are trace events; lines written without a level (the
// logger used as an io.Writer) always pass.
func (l *Level) Writer(w io.Writer) zerolog.LevelWriter {
	lw, ok := w.(zerolog.LevelWriter)
	if !ok {
		lw = zerolog.LevelWriterAdapter{Writer: w}
	}
	return filter{level: l, w: lw}
}

type filter struct {
	level *Level
	w     zerolog.LevelWriter
}

func (f filter) Write(p []byte) (int, error) { return f.w.Write(p) }

func (f filter) WriteLevel(lvl zerolog.Level, p []byte) (int, error) {
	if lvl != zerolog.NoLevel && lvl < f.level.Threshold() {
		return len(p), nil
	}
	return f.w.WriteLevel(lvl, p)
}
