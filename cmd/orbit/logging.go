package main

import (
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/orbitagent/orbit/osquery"
)

// newLogger logs human-readable lines on a terminal and JSON otherwise (a
// service's journal, a file), so both people and log shippers are served.
// Every line also goes to ring (when given), which the fleetd_logs table
// serves through osqueryd.
func newLogger(cfg logConfig, stderr *os.File, ring *osquery.LogRing) (zerolog.Logger, io.Closer) {
	level := zerolog.InfoLevel
	if cfg.Debug {
		level = zerolog.DebugLevel
	}
	var w io.Writer
	var closer io.Closer = io.NopCloser(nil)
	switch {
	case cfg.File != "":
		lj := &lumberjack.Logger{
			Filename:   cfg.File,
			MaxSize:    cfg.MaxSize,
			MaxBackups: cfg.MaxBackups,
			MaxAge:     cfg.MaxAge,
		}
		w, closer = lj, lj
	case isatty.IsTerminal(stderr.Fd()) || isatty.IsCygwinTerminal(stderr.Fd()):
		w = zerolog.ConsoleWriter{Out: stderr, TimeFormat: time.DateTime}
	default:
		w = stderr
	}
	if ring != nil {
		w = zerolog.MultiLevelWriter(w, ring)
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger(), closer
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
