package fleettest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"reflect"
	"sort"
	"testing"
)

func TestTLSAndCAFile(t *testing.T) {
	t.Parallel()
	s := start(t, Config{TLS: true})
	if got := s.URL(); len(got) < 8 || got[:8] != "https://" {
		t.Fatalf("URL = %q, want https://", got)
	}
	pemBytes, err := os.ReadFile(s.CACertFile())
	if err != nil {
		t.Fatalf("read CA file: %v", err)
	}
	blk, _ := pem.Decode(pemBytes)
	if blk == nil || blk.Type != "CERTIFICATE" {
		t.Fatalf("CA file is not a PEM certificate: %q", pemBytes)
	}
	ca, err := x509.ParseCertificate(blk.Bytes)
	if err != nil || !ca.IsCA {
		t.Fatalf("CA file: parse %v, IsCA=%v", err, ca != nil && ca.IsCA)
	}
	// A client trusting only the CA file can talk to the server.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	res, err := client.Head(s.URL() + "/api/fleet/orbit/ping")
	if err != nil {
		t.Fatalf("ping with the CA file: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("ping over TLS: %d", res.StatusCode)
	}
	// The default client (system roots only) must fail: the CA is really ours.
	if _, err := http.Head(s.URL() + "/api/fleet/orbit/ping"); err == nil {
		t.Fatal("a client without the CA connected; certificate is not checked")
	}
	dir := s.CACertFile()
	s.Close()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("CA file still there after Close: %v", err)
	}
}

func TestOrbitFlow(t *testing.T) {
	t.Parallel()
	s := start(t, Config{TLS: true})
	if err := s.SetStartupFlags(map[string]any{"distributed_interval": 7, "verbose": true}); err != nil {
		t.Fatal(err)
	}
	s.SetUpdateChannels("stable", "edge", "1.2.3")
	s.SetExtensions(map[string]Extension{"hello": {Platform: "linux", Channel: "stable"}})
	s.SetScriptExecutionTimeout(120)
	s.AddScript("exec-1", "echo hello")

	// ping: HEAD, capabilities header, no body.
	r := do(t, s, "HEAD", "/api/fleet/orbit/ping", nil)
	if r.status != 200 || r.header.Get(CapabilitiesHeader) != DefaultCapabilities || len(r.body) != 0 {
		t.Fatalf("ping: status %d caps %q body %q", r.status, r.header.Get(CapabilitiesHeader), r.body)
	}

	key := enrollOrbit(t, s, "uuid-1")
	hosts := s.OrbitHosts()
	if len(hosts) != 1 || hosts[0].HardwareUUID != "uuid-1" || hosts[0].OrbitNodeKey != key || hosts[0].Hostname != "host-uuid-1" || hosts[0].HardwareSerial != "SER-uuid-1" {
		t.Fatalf("OrbitHosts = %+v", hosts)
	}

	r = do(t, s, "POST", "/api/fleet/orbit/config", map[string]string{"orbit_node_key": key})
	if r.status != 200 {
		t.Fatalf("config: %d %s", r.status, r.body)
	}
	if r.header.Get(CapabilitiesHeader) != DefaultCapabilities {
		t.Fatalf("config: capabilities header %q", r.header.Get(CapabilitiesHeader))
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("config: content type %q", ct)
	}
	var cfg struct {
		Flags          map[string]any            `json:"command_line_startup_flags"`
		Extensions     map[string]map[string]any `json:"extensions"`
		UpdateChannels map[string]string         `json:"update_channels"`
		Timeout        int                       `json:"script_execution_timeout"`
		Notifications  map[string]any            `json:"notifications"`
	}
	if err := json.Unmarshal(r.body, &cfg); err != nil {
		t.Fatal(err)
	}
	got := r.json(t)
	wantKeys := []string{"command_line_startup_flags", "extensions", "notifications", "script_execution_timeout", "update_channels"}
	gk := keys(got)
	sort.Strings(gk)
	if !reflect.DeepEqual(gk, wantKeys) {
		t.Fatalf("config keys = %v, want %v", gk, wantKeys)
	}
	if cfg.Flags["distributed_interval"] != float64(7) || cfg.Flags["verbose"] != true {
		t.Fatalf("flags = %v", cfg.Flags)
	}
	if !reflect.DeepEqual(cfg.UpdateChannels, map[string]string{"orbit": "stable", "osqueryd": "edge", "desktop": "1.2.3"}) {
		t.Fatalf("update_channels = %v", cfg.UpdateChannels)
	}
	if cfg.Extensions["hello"]["platform"] != "linux" || cfg.Extensions["hello"]["channel"] != "stable" {
		t.Fatalf("extensions = %v", cfg.Extensions)
	}
	if cfg.Timeout != 120 {
		t.Fatalf("script_execution_timeout = %d", cfg.Timeout)
	}
	if ids, _ := cfg.Notifications["pending_script_execution_ids"].([]any); len(ids) != 1 || ids[0] != "exec-1" {
		t.Fatalf("notifications = %v", cfg.Notifications)
	}

	// Script request and result.
	r = do(t, s, "POST", "/api/fleet/orbit/scripts/request", map[string]string{"orbit_node_key": key, "execution_id": "exec-1"})
	sr := r.json(t)
	if r.status != 200 || sr["script_contents"] != "echo hello" || sr["execution_id"] != "exec-1" || sr["exit_code"] != nil || sr["host_id"] != float64(hosts[0].ID) {
		t.Fatalf("scripts/request: %d %v", r.status, sr)
	}
	r = do(t, s, "POST", "/api/fleet/orbit/scripts/result", map[string]any{
		"orbit_node_key": key, "host_id": 999, "execution_id": "exec-1", "output": "hello\n", "runtime": 2, "exit_code": 3, "timeout": 120,
	})
	if r.status != 200 || string(r.body) != "{}\n" {
		t.Fatalf("scripts/result: %d %q", r.status, r.body)
	}
	res := s.ScriptResults()
	if len(res) != 1 || res[0].Output != "hello\n" || res[0].ExitCode != 3 || res[0].Runtime != 2 || res[0].HostID != hosts[0].ID {
		t.Fatalf("ScriptResults = %+v", res)
	}
	r = do(t, s, "POST", "/api/fleet/orbit/config", map[string]string{"orbit_node_key": key})
	if _, ok := r.json(t)["notifications"].(map[string]any)["pending_script_execution_ids"]; ok {
		t.Fatalf("script still pending after its result: %s", r.body)
	}
	r = do(t, s, "POST", "/api/fleet/orbit/scripts/request", map[string]string{"orbit_node_key": key, "execution_id": "nope"})
	if r.status != 404 || r.json(t)["message"] != "Resource Not Found" {
		t.Fatalf("unknown script: %d %s", r.status, r.body)
	}

	// Device token and mapping.
	r = do(t, s, "POST", "/api/fleet/orbit/device_token", map[string]string{"orbit_node_key": key, "device_auth_token": "tok-1"})
	if r.status != 200 || string(r.body) != "{}\n" {
		t.Fatalf("device_token: %d %q", r.status, r.body)
	}
	if got := s.DeviceTokens(); !reflect.DeepEqual(got, map[string]string{"tok-1": "uuid-1"}) {
		t.Fatalf("DeviceTokens = %v", got)
	}
	r = do(t, s, "PUT", "/api/fleet/orbit/device_mapping", map[string]string{"orbit_node_key": key, "email": "a@b.c"})
	if r.status != 200 {
		t.Fatalf("device_mapping: %d %s", r.status, r.body)
	}
	if m := s.DeviceMappings(); len(m) != 1 || m[0].Email != "a@b.c" || m[0].HardwareUUID != "uuid-1" {
		t.Fatalf("DeviceMappings = %+v", m)
	}

	// Unset config fields are omitted, as Fleet does.
	if err := s.SetStartupFlags(nil); err != nil {
		t.Fatal(err)
	}
	s.ClearUpdateChannels()
	s.SetExtensions(nil)
	s.SetScriptExecutionTimeout(0)
	r = do(t, s, "POST", "/api/fleet/orbit/config", map[string]string{"orbit_node_key": key})
	if gk := keys(r.json(t)); len(gk) != 1 || gk[0] != "notifications" {
		t.Fatalf("empty config keys = %v (%s)", gk, r.body)
	}
}

func TestOrbitReenrollInvalidatesOldKey(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	k1 := enrollOrbit(t, s, "uuid-r")
	k2 := enrollOrbit(t, s, "uuid-r")
	if k1 == k2 {
		t.Fatal("re-enroll returned the same key")
	}
	if r := do(t, s, "POST", "/api/fleet/orbit/config", map[string]string{"orbit_node_key": k1}); r.status != 401 {
		t.Fatalf("old key: %d", r.status)
	}
	if r := do(t, s, "POST", "/api/fleet/orbit/config", map[string]string{"orbit_node_key": k2}); r.status != 200 {
		t.Fatalf("new key: %d", r.status)
	}
	if h := s.OrbitHosts(); len(h) != 1 || h[0].Enrollments != 2 {
		t.Fatalf("hosts = %+v", h)
	}
	s.InvalidateNodeKeys()
	if r := do(t, s, "POST", "/api/fleet/orbit/config", map[string]string{"orbit_node_key": k2}); r.status != 401 {
		t.Fatalf("after InvalidateNodeKeys: %d", r.status)
	}
}

func TestDeviceTokenRules(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	k1 := enrollOrbit(t, s, "u1")
	k2 := enrollOrbit(t, s, "u2")
	cases := []struct {
		name   string
		key    string
		token  string
		status int
		reason string
	}{
		{"empty", k1, "", 400, "device auth token cannot be empty"},
		{"invalid chars", k1, "a b/c", 400, "device auth token contains invalid characters"},
		{"ok", k1, "tok-a", 200, ""},
		{"same host again", k1, "tok-a", 200, ""},
		{"other host conflict", k2, "tok-a", 409, "auth token conflicts with another host"},
		{"rotate", k1, "tok-b", 200, ""},
	}
	for _, tc := range cases {
		r := do(t, s, "POST", "/api/fleet/orbit/device_token", map[string]string{"orbit_node_key": tc.key, "device_auth_token": tc.token})
		if r.status != tc.status {
			t.Fatalf("%s: status %d, want %d: %s", tc.name, r.status, tc.status, r.body)
		}
		if tc.reason != "" {
			errs, _ := r.json(t)["errors"].([]any)
			if len(errs) != 1 || errs[0].(map[string]any)["reason"] != tc.reason {
				t.Fatalf("%s: body %s", tc.name, r.body)
			}
		}
	}
	// Rotation invalidated tok-a.
	if got := s.DeviceTokens(); !reflect.DeepEqual(got, map[string]string{"tok-b": "u1"}) {
		t.Fatalf("DeviceTokens = %v", got)
	}
}
