// Package logcapture collects what several goroutines (or a child's output
// pipes) write, for tests that grep an agent's log.
package logcapture

import (
	"bytes"
	"sync"
)

// Buffer is a goroutine-safe bytes.Buffer for writes and reads.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
