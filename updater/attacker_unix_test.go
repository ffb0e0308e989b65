//go:build !windows

package updater

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// helperSwap is the attacker: a local user who, forever, replaces every
// file it can under ORBIT_SWAP_DIR with ORBIT_SWAP_EVIL by rename(2), the
// way one swaps a verified download for one's own between its check and
// its install. Each sweep touches ORBIT_SWAP_BEAT, so the test knows it
// runs.
func helperSwap() int {
	dir, evil, beat := os.Getenv("ORBIT_SWAP_DIR"), []byte(os.Getenv("ORBIT_SWAP_EVIL")), os.Getenv("ORBIT_SWAP_BEAT")
	for n := 0; ; n++ {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".swap-") {
				return nil
			}
			tmp := filepath.Join(filepath.Dir(p), fmt.Sprintf(".swap-%d", n))
			if os.WriteFile(tmp, evil, 0o755) == nil {
				_ = os.Chmod(tmp, 0o755)
				if os.Rename(tmp, p) != nil {
					os.Remove(tmp)
				}
			}
			return nil
		})
		_ = os.WriteFile(beat, []byte(strconv.Itoa(n)), 0o644)
		time.Sleep(time.Millisecond)
	}
}
