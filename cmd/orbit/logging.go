package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/orbitagent/orbit/internal/loglevel"
	"github.com/orbitagent/orbit/osquery"
)

// newLogger logs human-readable lines on a terminal and JSON otherwise (a
// service's journal, a file), so both people and log shippers are served.
// Every line also goes to ring (when given), which the fleetd_logs table
// serves through osqueryd. The logger itself logs at debug; the returned
// level decides what is written (to both) and can be switched while orbit
// runs (Fleet's debug_logging), with --debug as its floor.
func newLogger(cfg logConfig, stderr *os.File, ring *osquery.LogRing) (zerolog.Logger, *loglevel.Level, io.Closer) {
	level := loglevel.New(cfg.Debug)
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
	return zerolog.New(level.Writer(w)).Level(zerolog.DebugLevel).With().Timestamp().Logger(), level, closer
}

// Upper bounds of --log-file-max-size (MB) and --log-file-max-age (days):
// lumberjack turns them into bytes and a duration, which must not overflow.
const (
	maxLogFileSize = 1 << 20 // 1 TiB
	maxLogFileAge  = 36500   // 100 years
)

// checkLogFile refuses a --log-file that cannot be a rotated log file: a
// directory or another non-regular file (lumberjack would rename it on
// rotation), or a path under a file. A missing file, and missing
// directories above it, are created on the first write.
func checkLogFile(path string) error {
	fi, err := os.Stat(path)
	if err == nil {
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("--log-file %s is not a regular file: give the path of a log file, such as /var/log/orbit/orbit.log", path)
		}
		return nil
	}
	if !missing(err) {
		return fmt.Errorf("--log-file %s: %w", path, err)
	}
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("--log-file %s is under %s, which is not a directory: give the path of a log file in a directory", path, dir)
			}
			return nil
		}
		if !missing(err) {
			return fmt.Errorf("--log-file %s: %w", path, err)
		}
		if filepath.Dir(dir) == dir {
			return nil
		}
	}
}

// missing is a stat error for a path that does not exist, or that goes
// through a file (ENOTDIR).
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
