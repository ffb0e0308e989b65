//go:build unix

package fleet

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/orbitagent/orbit/internal/safefile"
)

// A FIFO in the journal's place is refused at once, not waited on: orbit
// reads the journal as root at every start.
func TestJournalRefusesASpecialFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "software_installs.json")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	j, err := openJournal(path)
	if !errors.Is(err, safefile.ErrNotRegular) {
		t.Fatalf("openJournal of a FIFO: %v, want ErrNotRegular", err)
	}
	if j == nil || j.len() != 0 {
		t.Fatalf("journal %+v, want an empty one to start from", j)
	}
}
