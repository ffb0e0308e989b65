package main

import (
	"bytes"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const doc = `{"orbit_pid": 42, "running": true, "components": {"osqueryd": {"pid": 7, "version": "5.13.0"}},
  "hosts": [{"hardware_uuid": "ABC", "rows": [{"uuid": "abc"}]}], "empty": [], "none": null}`

func TestGetAndLen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args    []string
		want    string
		wantErr bool
	}{
		{args: []string{"get", "orbit_pid"}, want: "42\n"},
		{args: []string{"get", "running"}, want: "true\n"},
		{args: []string{"get", "components.osqueryd.version"}, want: "5.13.0\n"},
		{args: []string{"get", "hosts.0.rows.0.uuid"}, want: "abc\n"},
		{args: []string{"get", "hosts.0.rows"}, want: "[\n  {\n    \"uuid\": \"abc\"\n  }\n]\n"},
		{args: []string{"len", "hosts"}, want: "1\n"},
		{args: []string{"len", "empty"}, want: "0\n"},
		{args: []string{"len", "none"}, want: "0\n"},
		{args: []string{"len", "components"}, want: "1\n"},
		{args: []string{"get", "components.orbit"}, wantErr: true},
		{args: []string{"get", "hosts.1"}, wantErr: true},
		{args: []string{"get", "hosts.x"}, wantErr: true},
		{args: []string{"get", "orbit_pid.x"}, wantErr: true},
		{args: []string{"len", "orbit_pid"}, wantErr: true},
		{args: []string{"frobnicate"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			err := run(tc.args, strings.NewReader(doc), &out)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("want an error, got output %q", out.String())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Fatalf("got %q, want %q", out.String(), tc.want)
			}
		})
	}
}

func TestGetFromFileAndBadJSON(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(good, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(`{"x":`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run([]string{"get", "hosts.0.hardware_uuid", good}, strings.NewReader(""), &out); err != nil || out.String() != "ABC\n" {
		t.Fatalf("got %q, %v", out.String(), err)
	}
	if err := run([]string{"get", ".", bad}, strings.NewReader(""), io.Discard); err == nil {
		t.Fatal("truncated JSON accepted")
	}
}

func TestHTTPWithCA(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/echo":
			w.Write([]byte(r.Method + " " + r.Header.Get("Content-Type") + " " + string(body)))
		default:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":"nope"}`))
		}
	}))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	if err := run([]string{"http", "--ca", ca, "PUT", srv.URL + "/echo", `{"a":1}`}, nil, &out); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), `PUT application/json {"a":1}`; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	err := run([]string{"http", "--ca", ca, "GET", srv.URL + "/missing"}, nil, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("a 404 must fail with its status, got %v", err)
	}
	// Without the CA the server's certificate is not trusted.
	if err := run([]string{"http", "GET", srv.URL + "/echo"}, nil, io.Discard); err == nil {
		t.Fatal("untrusted certificate accepted")
	}
}
