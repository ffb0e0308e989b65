package fleet

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orbitagent/orbit/internal/httpclient"
	"github.com/orbitagent/orbit/internal/httpclient/httpclienttest"
)

// A Fleet URL that answers with a redirect to another port, or from https
// to http, gets no secret sent there: not the enroll secret, the node key
// or the device token, whatever HTTP client the Client was given.
func TestClientSendsNoSecretThroughARedirect(t *testing.T) {
	t.Parallel()
	const (
		secret  = "enroll-s3cret-value"
		nodeKey = "node-key-value-1234"
		token   = "0f8fad5b-d9cb-469f-a165-70867728950e"
	)
	trap := httpclienttest.NewTrap(t)
	for _, srv := range []*httptest.Server{
		httptest.NewServer(httpclienttest.Redirect(trap.URL, http.StatusTemporaryRedirect)),
		httptest.NewTLSServer(httpclienttest.Redirect(trap.URL, http.StatusPermanentRedirect)),
	} {
		t.Cleanup(srv.Close)
		// net/http's own client, which follows any redirect.
		c, err := NewClient(ClientConfig{URL: srv.URL, HTTPClient: srv.Client(), RequestTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if _, err := c.Enroll(ctx, secret, HostInfo{HardwareUUID: "u"}); !errors.Is(err, httpclient.ErrRedirectRefused) {
			t.Errorf("Enroll through %s = %v, want a refused redirect", srv.URL, err)
		}
		c.SetNodeKey(nodeKey)
		if _, err := c.GetConfig(ctx); !errors.Is(err, httpclient.ErrRedirectRefused) {
			t.Errorf("GetConfig through %s = %v, want a refused redirect", srv.URL, err)
		}
		if err := c.SetDeviceToken(ctx, token); !errors.Is(err, httpclient.ErrRedirectRefused) {
			t.Errorf("SetDeviceToken through %s = %v, want a refused redirect", srv.URL, err)
		}
	}
	conns, data := trap.Received()
	for _, s := range []string{secret, nodeKey, token} {
		if strings.Contains(string(data), s) {
			t.Errorf("%q reached the other address", s)
		}
	}
	if conns != 0 {
		t.Errorf("the other address received %d connections: %q", conns, data)
	}
}
