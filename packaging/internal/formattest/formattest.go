// Package formattest checks what every packaging.Format promises about
// input it refuses: an error on one line that says what is wrong, and
// nothing written, so a failed `orbitctl package` leaves no partial file.
package formattest

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/orbitagent/orbit/packaging"
)

// Refused builds p with f and wants it refused with an error containing
// want, on one line, and no bytes written.
func Refused(t *testing.T, f packaging.Format, p *packaging.Package, want string) {
	t.Helper()
	var buf bytes.Buffer
	err := f.Build(context.Background(), p, &buf)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Build error = %v, want one about %q", err, want)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error spans lines: %q", err)
	}
	if buf.Len() != 0 {
		t.Errorf("a rejected package wrote %d bytes", buf.Len())
	}
}

// RefusesNilAndCancelled wants f to refuse a nil Package, and p under a
// cancelled context, writing nothing.
func RefusesNilAndCancelled(t *testing.T, f packaging.Format, p *packaging.Package) {
	t.Helper()
	var buf bytes.Buffer
	if err := f.Build(context.Background(), nil, &buf); err == nil || buf.Len() != 0 {
		t.Errorf("a nil Package: error %v, %d bytes written", err, buf.Len())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.Build(ctx, p, &buf); err == nil || buf.Len() != 0 {
		t.Errorf("a cancelled build: error %v, %d bytes written", err, buf.Len())
	}
}
