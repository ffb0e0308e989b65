//go:build !windows

package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
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

// TestBinary builds fleetserver, runs it on a free port, talks to it with
// its CA file, and stops it with SIGTERM and SIGINT.
func TestBinary(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "fleetserver")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			ca := filepath.Join(dir, sig.String(), "ca.pem")
			cmd := exec.Command(bin, "--port", "0", "--enroll-secret", "s3cret", "--ca-file", ca,
				"--update-channels", "edge,stable,stable", "--startup-flags", `{"verbose":true}`)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			t.Cleanup(func() {
				if cmd.ProcessState == nil {
					_ = cmd.Process.Kill()
				}
			})
			line, err := bufio.NewReader(stdout).ReadString('\n')
			if err != nil {
				t.Fatalf("read URL from stdout: %v", err)
			}
			url := strings.TrimSpace(line)
			if !strings.HasPrefix(url, "https://127.0.0.1:") {
				t.Fatalf("URL = %q", url)
			}
			pemBytes, err := os.ReadFile(ca)
			if err != nil {
				t.Fatalf("CA file: %v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pemBytes) {
				t.Fatal("CA file has no certificate")
			}
			client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
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
