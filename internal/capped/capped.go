// Package capped bounds what orbit keeps of a child's output, so a runaway
// or hostile program cannot exhaust the agent's memory.
package capped

import "bytes"

// Buffer keeps the first Max bytes written and discards the rest, while
// reporting every write as complete so the writer is never blocked.
type Buffer struct {
	bytes.Buffer
	Max int
}

func (b *Buffer) Write(p []byte) (int, error) {
	if room := b.Max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
