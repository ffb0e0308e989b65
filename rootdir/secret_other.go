//go:build !windows

package rootdir

import (
	"fmt"
	"os"
)

// ProtectSecret makes path readable by its owner only (0600), the Unix
// counterpart of the Windows ACL.
func ProtectSecret(path string) error {
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("restrict %s to its owner: %w", path, err)
	}
	return nil
}
