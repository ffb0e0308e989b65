package osquery

import (
	"path/filepath"
	"testing"

	"github.com/orbitagent/orbit/internal/testbin"
)

func TestVersionOfTheStandIn(t *testing.T) {
	t.Parallel()
	bin := testbin.Build(t, "./testdata/osqueryd", "osqueryd", "-X main.version=5.13.2")
	if v := Version(bin); v != "5.13.2" {
		t.Fatalf("Version = %q, want 5.13.2", v)
	}
	if v := Version(filepath.Join(t.TempDir(), "missing")); v != "" {
		t.Fatalf("Version of a missing binary = %q, want empty", v)
	}
}
