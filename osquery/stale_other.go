//go:build !linux && !darwin && !windows

package osquery

import "errors"

func processArgs(int) ([]string, error) {
	return nil, errors.New("reading another process's command line is not supported on this platform")
}
