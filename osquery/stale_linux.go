package osquery

import (
	"bytes"
	"fmt"
	"os"
	"strings"
)

// processArgs reads a live process's argv from /proc. A zombie has an
// empty cmdline and reports no args.
func processArgs(pid int) ([]string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil, err
	}
	data = bytes.TrimRight(data, "\x00")
	if len(data) == 0 {
		return nil, fmt.Errorf("process %d has no command line", pid)
	}
	return strings.Split(string(data), "\x00"), nil
}
