package main

import (
	"testing"

	"github.com/orbitagent/orbit/internal/flagdoc"
)

// docs/flags.md's orbit section is what orbit's flag definitions give
// (Linux's defaults; `make flags-doc` rewrites it).
func TestFlagsDoc(t *testing.T) {
	flagdoc.Check(t, "orbit", flagdoc.Render(newApp()))
}
