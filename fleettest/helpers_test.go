package fleettest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/orbitagent/orbit/clock/clocktest"
)

const testSecret = "test-enroll-secret"

func newFakeClock() *clocktest.Fake {
	return clocktest.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
}

// start runs a server for the test; tls selects HTTPS.
func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.EnrollSecrets == nil {
		cfg.EnrollSecrets = []string{testSecret}
	}
	return Start(t, cfg)
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %q", err, r.body)
	}
	return m
}

// do sends method path with body (a string is sent verbatim, anything else as JSON).
func do(t *testing.T, s *Server, method, path string, body any, hdr ...string) resp {
	t.Helper()
	r, err := doErr(context.Background(), s, method, path, body, hdr...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func doErr(ctx context.Context, s *Server, method, path string, body any, hdr ...string) (resp, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			return resp{}, err
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL()+path, rd)
	if err != nil {
		return resp{}, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	client := s.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := client.Do(req)
	if err != nil {
		return resp{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return resp{}, err
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}, nil
}

func enrollOrbit(t *testing.T, s *Server, uuid string) string {
	t.Helper()
	r := do(t, s, "POST", "/api/fleet/orbit/enroll", map[string]any{
		"enroll_secret": testSecret, "hardware_uuid": uuid, "hardware_serial": "SER-" + uuid,
		"hostname": "host-" + uuid, "platform": "ubuntu", "osquery_identifier": "", "computer_name": "pc",
		"hardware_model": "Q35",
	})
	if r.status != 200 {
		t.Fatalf("orbit enroll: status %d: %s", r.status, r.body)
	}
	key, _ := r.json(t)["orbit_node_key"].(string)
	if key == "" {
		t.Fatalf("orbit enroll: no orbit_node_key in %s", r.body)
	}
	return key
}

func enrollOsquery(t *testing.T, s *Server, prefix, ident string) string {
	t.Helper()
	r := do(t, s, "POST", prefix+"/enroll", map[string]any{
		"enroll_secret": testSecret, "host_identifier": ident, "platform_type": "9",
		"host_details": map[string]any{"os_version": map[string]string{"name": "Ubuntu"}},
	})
	if r.status != 200 {
		t.Fatalf("osquery enroll: status %d: %s", r.status, r.body)
	}
	key, _ := r.json(t)["node_key"].(string)
	if key == "" {
		t.Fatalf("osquery enroll: no node_key in %s", r.body)
	}
	return key
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
