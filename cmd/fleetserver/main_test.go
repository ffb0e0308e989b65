//go:build !windows

package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orbitagent/orbit/fleettest"
)

// buildBinary builds fleetserver into a temporary directory.
func buildBinary(t *testing.T) (bin, dir string) {
	t.Helper()
	dir = t.TempDir()
	bin = filepath.Join(dir, "fleetserver")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin, dir
}

// startBinary runs bin with args and returns it with the URL it printed.
// The process is killed at cleanup if the test did not stop it.
func startBinary(t *testing.T, bin string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("read URL from stdout: %v", err)
	}
	return cmd, strings.TrimSpace(line)
}

// caClient returns an HTTP client that trusts only the CA file fleetserver wrote.
func caClient(t *testing.T, ca string) *http.Client {
	t.Helper()
	pemBytes, err := os.ReadFile(ca)
	if err != nil {
		t.Fatalf("CA file: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("CA file has no certificate")
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// TestBinary builds fleetserver, runs it on a free port, talks to it with
// its CA file, and stops it with SIGTERM and SIGINT.
func TestBinary(t *testing.T) {
	bin, dir := buildBinary(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			ca := filepath.Join(dir, sig.String(), "ca.pem")
			cmd, url := startBinary(t, bin, "--port", "0", "--enroll-secret", "s3cret", "--ca-file", ca,
				"--update-channels", "edge,stable,stable", "--startup-flags", `{"verbose":true}`)
			done := make(chan error, 1)
			if !strings.HasPrefix(url, "https://127.0.0.1:") {
				t.Fatalf("URL = %q", url)
			}
			client := caClient(t, ca)
			res, err := client.Head(url + "/api/fleet/orbit/ping")
			if err != nil {
				t.Fatalf("ping: %v", err)
			}
			res.Body.Close()
			if res.StatusCode != 200 || res.Header.Get(fleettest.CapabilitiesHeader) != fleettest.DefaultCapabilities {
				t.Fatalf("ping: %d %q", res.StatusCode, res.Header.Get(fleettest.CapabilitiesHeader))
			}
			res, err = client.Post(url+"/api/fleet/orbit/enroll", "application/json",
				strings.NewReader(`{"enroll_secret":"s3cret","hardware_uuid":"u"}`))
			if err != nil {
				t.Fatalf("enroll: %v", err)
			}
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Fatalf("enroll with the configured secret: %d", res.StatusCode)
			}

			go func() { done <- cmd.Wait() }()
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("exit after %v: %v", sig, err)
				}
			case <-time.After(60 * time.Second):
				t.Fatalf("fleetserver did not stop on %v", sig)
			}
		})
	}
}

func TestRequiresSecret(t *testing.T) {
	err := newApp().Run([]string{"fleetserver", "--port", "0"})
	if err == nil || !strings.Contains(err.Error(), "--enroll-secret") {
		t.Fatalf("err = %v", err)
	}
}

func TestBadFlags(t *testing.T) {
	cases := [][]string{
		{"--enroll-secret", "x", "--port", "0", "--update-channels", "a,b"},
		{"--enroll-secret", "x", "--port", "0", "--startup-flags", "[1]"},
		{"--enroll-secret", "x", "--port", "70000"},
	}
	for _, args := range cases {
		if err := newApp().Run(append([]string{"fleetserver"}, args...)); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// TestBinaryAdminSoftwareInstall queues a software install through the
// running binary's admin endpoint and plays the agent's side of it.
func TestBinaryAdminSoftwareInstall(t *testing.T) {
	bin, dir := buildBinary(t)
	ca := filepath.Join(dir, "ca.pem")
	_, url := startBinary(t, bin, "--port", "0", "--enroll-secret", "s3cret", "--ca-file", ca, "--require-end-user-auth")
	client := caClient(t, ca)
	call := func(method, path, body string, wantStatus int) []byte {
		t.Helper()
		req, err := http.NewRequest(method, url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != wantStatus {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, res.StatusCode, wantStatus, b)
		}
		return b
	}
	field := func(b []byte, name string) string {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		return fmt.Sprint(m[name])
	}

	enroll := `{"enroll_secret":"s3cret","hardware_uuid":"HW-1"}`
	if b := call("POST", "/api/fleet/orbit/enroll", enroll, 401); field(b, "message") != "END_USER_AUTH_REQUIRED" {
		t.Fatalf("enroll with --require-end-user-auth: %s", b)
	}
	call("POST", "/_admin/end_user_auth/complete", `{"hardware_uuid":"HW-1"}`, 200)
	key := field(call("POST", "/api/fleet/orbit/enroll", enroll, 200), "orbit_node_key")

	inst := field(call("POST", "/_admin/software_installers",
		`{"filename":"demo.deb","package":"aGVsbG8=","install_script":"echo install"}`, 200), "installer_id")
	install := field(call("POST", "/_admin/hosts/software_installs", `{"hardware_uuid":"HW-1","installer_id":`+inst+`}`, 200), "install_id")
	cfg := call("POST", "/api/fleet/orbit/config", `{"orbit_node_key":"`+key+`"}`, 200)
	if !strings.Contains(string(cfg), `"pending_software_installer_ids": [`) || !strings.Contains(string(cfg), install) {
		t.Fatalf("config does not list the install: %s", cfg)
	}
	if b := call("POST", "/api/fleet/orbit/software_install/package?alt=media", `{"orbit_node_key":"`+key+`","installer_id":`+inst+`}`, 200); string(b) != "hello" {
		t.Fatalf("package = %q", b)
	}
	call("POST", "/api/fleet/orbit/software_install/result",
		`{"orbit_node_key":"`+key+`","install_uuid":"`+install+`","install_script_exit_code":0,"install_script_output":"ok"}`, 204)
	var results []fleettest.SoftwareInstallResult
	if err := json.Unmarshal(call("GET", "/_admin/software_installs/results", "", 200), &results); err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0].Status != "installed" || results[0].HardwareUUID != "HW-1" {
		t.Fatalf("results = %+v", results)
	}
}
