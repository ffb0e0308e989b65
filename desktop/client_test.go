package desktop

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/orbitagent/orbit/internal/httpclient"
	"github.com/orbitagent/orbit/internal/httpclient/httpclienttest"
)

func clientFor(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	base, err := url.Parse(srv.URL + "/prefix")
	if err != nil {
		t.Fatal(err)
	}
	return NewClient(srv.Client(), base)
}

func TestClientAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		count   *uint // nil: no count
		self    *bool
		err     string
	}{
		{"count and unknown fields", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/prefix/api/latest/fleet/device/"+tokA+"/desktop" {
				http.NotFound(w, r)
				return
			}
			_, _ = w.Write([]byte(`{"failing_policies_count": 7, "self_service": true, "notifications": {"needs_mdm_migration": true}, "new_field": [1]}`))
		}, uptr(7), bptr(true), ""},
		{"zero count omitted", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"self_service": null}`))
		}, uptr(0), nil, ""},
		{"402 no license", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusPaymentRequired)
		}, nil, bptr(false), ""},
		{"401", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusUnauthorized)
		}, nil, nil, ErrUnauthorized.Error()},
		{"404 then 404", func(w http.ResponseWriter, r *http.Request) {
			http.NotFound(w, r)
		}, nil, nil, "policies answered 404"},
		{"500", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
		}, nil, nil, "desktop answered 500"},
		{"malformed", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"failing_policies_count": `))
		}, nil, nil, "not the JSON Fleet sends"},
		{"negative count", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"failing_policies_count": -1}`))
		}, nil, nil, "not the JSON Fleet sends"},
		{"redirect within Fleet followed", func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/desktop") {
				http.Redirect(w, r, "/elsewhere", http.StatusFound)
				return
			}
			_, _ = w.Write([]byte(`{"failing_policies_count": 2}`))
		}, uptr(2), nil, ""},
		{"oversized", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"x":"`))
			chunk := []byte(strings.Repeat("a", 64<<10))
			for range (maxBody / len(chunk)) + 2 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}, nil, nil, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := clientFor(t, tt.handler)
			sum, err := c.Summary(context.Background(), tokA)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Summary = %+v, %v; want an error with %q", sum, err, tt.err)
				}
				if strings.Contains(err.Error(), tokA) {
					t.Fatalf("error holds the token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !eqU(sum.FailingPolicies, tt.count) || !eqB(sum.SelfService, tt.self) {
				t.Fatalf("Summary = {%v %v}, want {%v %v}", show(sum.FailingPolicies), showB(sum.SelfService), show(tt.count), showB(tt.self))
			}
		})
	}
}

// A redirect to another port, or from https to http, is not followed: the
// token in the path never reaches the other address.
func TestClientFollowsNoRedirectToAnotherOrigin(t *testing.T) {
	t.Parallel()
	trap := httpclienttest.NewTrap(t)
	for _, srv := range []*httptest.Server{
		httptest.NewServer(httpclienttest.Redirect(trap.URL, http.StatusTemporaryRedirect)),
		httptest.NewTLSServer(httpclienttest.Redirect(trap.URL, http.StatusFound)),
	} {
		t.Cleanup(srv.Close)
		base, err := url.Parse(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		_, err = NewClient(srv.Client(), base).Summary(context.Background(), tokA)
		if !errors.Is(err, httpclient.ErrRedirectRefused) || strings.Contains(err.Error(), tokA) {
			t.Fatalf("Summary from %s = %v, want a refused redirect without the token", srv.URL, err)
		}
	}
	if conns, data := trap.Received(); conns != 0 || strings.Contains(string(data), tokA) {
		t.Fatalf("the other address received %d connections: %q", conns, data)
	}
}

func TestClientUnauthorizedIsErrUnauthorized(t *testing.T) {
	t.Parallel()
	c := clientFor(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) })
	if _, err := c.Summary(context.Background(), tokA); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err = %v", err)
	}
}

func uptr(v uint) *uint { return &v }
func bptr(v bool) *bool { return &v }
func eqU(a, b *uint) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}
func eqB(a, b *bool) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}
func show(v *uint) any {
	if v == nil {
		return "nil"
	}
	return *v
}
func showB(v *bool) any {
	if v == nil {
		return "nil"
	}
	return *v
}
