package main

import (
	"net"
	"time"

	"github.com/Microsoft/go-winio"
)

// listenSocket listens on a named pipe that only SYSTEM and Administrators
// may open, like osqueryd's.
func listenSocket(path string) (net.Listener, error) {
	return winio.ListenPipe(path, &winio.PipeConfig{SecurityDescriptor: "D:P(A;;GA;;;SY)(A;;GA;;;BA)"})
}

func dialSocket(path string, timeout time.Duration) (net.Conn, error) {
	return winio.DialPipe(path, &timeout)
}

func socketExists(path string) bool {
	c, err := dialSocket(path, 50*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// removeStaleSockets: pipes vanish with their server on Windows.
func removeStaleSockets(string) {}
