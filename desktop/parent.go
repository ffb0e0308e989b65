package desktop

import (
	"context"
	"time"

	"github.com/orbitagent/orbit/clock"
)

// DefaultParentCheckInterval is how often the tray checks that orbit, its
// parent, is still there.
const DefaultParentCheckInterval = 2 * time.Second

// WatchParent returns nil once alive reports false (the process that
// started the tray is gone), checking every interval on clk; it returns
// ctx's error when ctx ends first. It keeps the tray from outliving orbit
// as an orphan when orbit is killed without stopping it.
func WatchParent(ctx context.Context, clk clock.Clock, interval time.Duration, alive func() bool) error {
	for alive() {
		if !clock.Sleep(ctx, clk, interval) {
			return ctx.Err()
		}
	}
	return nil
}
