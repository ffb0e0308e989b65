//go:build unix

package osquery

import (
	"context"
	"fmt"
	"net"
	"os"
)

// maxSocketPath is the longest Unix socket path every platform takes
// (sun_path is 104 bytes on macOS, 108 on Linux, NUL included).
const maxSocketPath = 103

// extensionSuffixLen is the longest ".<uuid>" osquery appends (".65536").
const extensionSuffixLen = 6

// checkSocketPath reports a path too long for a Unix socket once the
// extension's ".<uuid>" is appended.
func checkSocketPath(path string, suffix int) error {
	if len(path)+suffix > maxSocketPath {
		return fmt.Errorf("socket path %s is too long for a Unix socket (%d bytes, at most %d): use a shorter root directory",
			path, len(path), maxSocketPath-suffix)
	}
	return nil
}

func dialSocket(ctx context.Context, path string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", path)
}

// listenSocket listens on the extension's own socket. Only root (osqueryd)
// may connect: orbit_info carries the device token. A stale socket left by
// an earlier run is replaced; any other file there is an error.
func listenSocket(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket: remove it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale extension socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("restrict extension socket %s: %w", path, err)
	}
	return ln, nil
}
