package osquery

import (
	"context"
	"net"

	"github.com/Microsoft/go-winio"
)

// extensionPipeSDDL lets only SYSTEM and Administrators open the
// extension's pipe, as osqueryd does for its own: orbit_info carries the
// device token.
const extensionPipeSDDL = "D:P(A;;GA;;;SY)(A;;GA;;;BA)"

// extensionSuffixLen is the longest ".<uuid>" osquery appends (".65536").
const extensionSuffixLen = 6

// checkSocketPath: named pipe names have no practical length limit here.
func checkSocketPath(string, int) error { return nil }

func dialSocket(ctx context.Context, path string) (net.Conn, error) {
	return winio.DialPipeContext(ctx, path)
}

func listenSocket(path string) (net.Listener, error) {
	return winio.ListenPipe(path, &winio.PipeConfig{SecurityDescriptor: extensionPipeSDDL})
}
