//go:build !windows

// The updater judges metadata expiry by Config.Clock (it passes it to
// go-tuf as the reference time), so one fake clock drives both the
// repository's signing and the client's view of expiry here.

package interop_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orbitagent/orbit/clock/clocktest"
	"github.com/orbitagent/orbit/updater/repo"
)

// TestTimestampRenewalByClock is TestTimestampOnlyRenewal as written in
// days of one shared fake clock: the repository signs on day 0, the
// updater checks on day 13 (passes) and day 15 (fails, binary untouched),
// then the timestamp alone is re-signed on day 15 and the check passes.
func TestTimestampRenewalByClock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	day0 := time.Now()
	clock := clocktest.New(day0)
	repoClock := clocktest.New(day0)

	f := newFixture(t, false, repoClock)
	f.add("1.0.0", "stable")
	srv := httptest.NewServer(repo.Handler(f.dir))
	defer srv.Close()
	u := f.newUpdater(srv.URL, clock)

	clock.Set(day0.Add(13 * day))
	res, err := u.Check(ctx)
	if err != nil || !slices.Equal(res.Installed, []string{"osqueryd"}) {
		t.Fatalf("day 13: %+v %v", res, err)
	}
	installed, err := u.ExecPath("osqueryd")
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(installed)
	if err != nil {
		t.Fatal(err)
	}

	clock.Set(day0.Add(15 * day))
	res, err = u.Check(ctx)
	if err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("day 15 without renewal: %+v %v; want an expiry error", res, err)
	}
	if after, _ := os.ReadFile(installed); !bytes.Equal(after, before) || running(t, u) != "osqueryd version 1.0.0" {
		t.Fatal("day 15: installed binary changed")
	}

	repoClock.Set(day0.Add(15 * day))
	if err := f.r.Timestamp(); err != nil {
		t.Fatal(err)
	}
	if res, err := u.Check(ctx); err != nil || !slices.Equal(res.Unchanged, []string{"osqueryd"}) {
		t.Fatalf("day 15 after renewal: %+v %v", res, err)
	}
}
