//go:build !windows

package updater

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/orbitagent/orbit/internal/httpclient"
	"github.com/orbitagent/orbit/internal/httpclient/httpclienttest"
)

// An update server that redirects to another port, or from https to http,
// is not followed: nothing is fetched from, or sent to, the other address.
func TestFetcherFollowsNoRedirectToAnotherOrigin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	e.repo.addTarget(osqTarget, script("1.0.0", 0, e.marks, 0), "1.0.0")
	e.repo.publish()
	trap := httpclienttest.NewTrap(t)
	for _, srv := range []*httptest.Server{
		httptest.NewServer(httpclienttest.Redirect(trap.URL, http.StatusTemporaryRedirect)),
		httptest.NewTLSServer(httpclienttest.Redirect(trap.URL, http.StatusFound)),
	} {
		t.Cleanup(srv.Close)
		cfg := e.config(osqComp)
		cfg.Layout = rootdirAt(t)
		cfg.UpdateURL = srv.URL
		cfg.HTTPClient = srv.Client() // net/http's client follows any redirect
		u := e.updater(cfg)
		_, err := u.Check(context.Background())
		if !errors.Is(err, httpclient.ErrRedirectRefused) {
			t.Errorf("check through %s = %v, want a refused redirect", srv.URL, err)
		}
	}
	if conns, data := trap.Received(); conns != 0 {
		t.Fatalf("the other address received %d connections: %q", conns, data)
	}
}
