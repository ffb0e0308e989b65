//go:build unix

package main

import (
	"net"
	"os"
	"path/filepath"
	"time"
)

// listenSocket listens on a Unix socket, replacing a stale file as osquery
// does. Only root may connect (0600): the socket answers queries.
func listenSocket(path string) (net.Listener, error) {
	_ = os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	// We remove the file ourselves on a clean exit.
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	_ = os.Chmod(path, 0o600)
	return l, nil
}

func dialSocket(path string, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("unix", path, timeout)
}

func socketExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode()&os.ModeSocket != 0
}

// removeStaleSockets removes "<manager>.*" sockets left by extensions, as
// osquery's removeStalePaths does when its manager starts and stops. Only
// sockets are removed, so other files named alike survive.
func removeStaleSockets(manager string) {
	paths, _ := filepath.Glob(manager + ".*")
	for _, p := range paths {
		if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSocket != 0 {
			_ = os.Remove(p)
		}
	}
}
