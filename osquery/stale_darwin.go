package osquery

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// processArgs asks ps for the command line; macOS has no /proc. Splitting
// on spaces is enough here: orbit's own paths under the root have no
// spaces on macOS (/opt/orbit).
func processArgs(pid int) ([]string, error) {
	out, err := exec.Command("ps", "-ww", "-o", "command=", "-p", strconv.Itoa(pid)).Output()
	if err != nil {
		return nil, fmt.Errorf("process %d not found: %w", pid, err)
	}
	f := strings.Fields(string(out))
	if len(f) == 0 {
		return nil, fmt.Errorf("process %d has no command line", pid)
	}
	return f, nil
}
