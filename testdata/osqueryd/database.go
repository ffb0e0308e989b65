package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// osquery's initDatabasePlugin tries to open RocksDB 25 times, 200 ms apart,
// in case another process is just releasing the database's LOCK.
const (
	dbOpenAttempts = 25
	dbRetryDelay   = 200 * time.Millisecond
)

// openDatabase creates (mkdirAll: daemon) or opens the database directory
// and takes its LOCK as RocksDB does, retrying like osquery. The error reads
// like RocksDB's.
func openDatabase(dir string, mkdirAll bool, scale float64) (func(), error) {
	mk := os.Mkdir
	if mkdirAll {
		mk = os.MkdirAll
	}
	if err := mk(dir, 0o700); err != nil && !os.IsExist(err) {
		return nil, fmt.Errorf("IO error: While mkdir if missing: %s: %w", dir, err)
	}
	lockPath := filepath.Join(dir, "LOCK")
	var err error
	for i := 0; i < dbOpenAttempts; i++ {
		if i > 0 {
			time.Sleep(scaleDuration(dbRetryDelay, scale))
		}
		var unlock func()
		if unlock, err = lockDatabase(dir); err == nil {
			return unlock, nil
		}
	}
	return nil, fmt.Errorf("IO error: While lock file: %s: Resource temporarily unavailable (%v)", lockPath, err)
}

// scaleDuration applies OSQUERYD_STANDIN_INTERVAL_SCALE, never below 1 ms.
func scaleDuration(d time.Duration, scale float64) time.Duration {
	return max(time.Duration(float64(d)*scale), time.Millisecond)
}
