package supervisor

import (
	"time"

	"github.com/orbitagent/orbit/clock/clocktest"
)

func newFakeClock() *clocktest.Fake {
	return clocktest.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
}
