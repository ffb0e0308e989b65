package main

import (
	"io"
	"testing"

	"github.com/orbitagent/orbit/internal/flagdoc"
)

// docs/flags.md's orbitctl section is what orbitctl's flag definitions
// give (`make flags-doc` rewrites it).
func TestFlagsDoc(t *testing.T) {
	flagdoc.Check(t, "orbitctl", flagdoc.Render(newApp(io.Discard, io.Discard)))
}
