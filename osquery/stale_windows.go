package osquery

import (
	"context"
	"errors"
	"time"
)

// On Windows osqueryd runs inside orbit's job object, which the kernel
// kills with orbit, so a stale osqueryd cannot outlive us; reading another
// process's command line would need PEB access we do not want.
func processArgs(int) ([]string, error) {
	return nil, errors.New("not needed on windows: the job object kills osqueryd with orbit")
}

func terminate(context.Context, int, time.Duration) error { return nil }
