//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/orbitagent/orbit/desktop/desktoptest"
	"github.com/orbitagent/orbit/fleettest"
)

// The tray app idle (issue 9), as a logged-in user's tray runs: on a
// private session bus with Debian's StatusNotifierWatcher, polling the
// Fleet test server every 10 s for its failing-policy count.
func init() {
	register(Measurement{Name: "tray idle", Order: 20, Idle: true, Run: trayIdle})
}

func trayIdle(ctx context.Context, env *Env) []Row {
	rows := []Row{
		{Name: "tray app idle RSS, 30 s (session bus, polling Fleet every 10 s)", Unit: "MiB", Goal: AtMost(20*MB, "<= 20 MB (19.07 MiB)")},
		{Name: "tray app idle CPU, 30 s (same tray)", Unit: "% core", Goal: Below(0.5, "< 0.5 % of a core")},
	}
	tools, err := env.Tools("dbus-daemon", "status-notifier-watcher")
	if err != nil {
		return fail(rows, err)
	}
	tray, err := env.Program("./cmd/desktop", "fleet-desktop")
	if err != nil {
		return fail(rows, err)
	}
	dir, err := env.Dir()
	if err != nil {
		return fail(rows, err)
	}
	const secret = "bench-tray-secret"
	srv := fleettest.New(fleettest.Config{EnrollSecrets: []string{secret}, TLS: true})
	if err := srv.Start(); err != nil {
		return fail(rows, err)
	}
	defer srv.Close()
	token, err := deviceToken(srv, secret)
	if err != nil {
		return fail(rows, err)
	}
	idFile := filepath.Join(dir, "identifier")
	if err := os.WriteFile(idFile, []byte(token), 0o600); err != nil {
		return fail(rows, err)
	}

	// dbus-daemon is checked above (a missing tool: not measured).
	sessionBus, err := desktoptest.LaunchBus(filepath.Join(dir, "bus"), nil)
	if err != nil {
		return fail(rows, err)
	}
	defer sessionBus.Kill()
	bus := sessionBus.Address
	var procs []*exec.Cmd
	defer func() {
		for i := len(procs) - 1; i >= 0; i-- {
			_ = procs[i].Process.Signal(syscall.SIGTERM)
			_ = procs[i].Wait()
		}
	}()
	start := func(log string, env []string, name string, args ...string) (*exec.Cmd, error) {
		cmd := exec.Command(name, args...)
		cmd.Env = env
		f, err := os.Create(filepath.Join(dir, log))
		if err != nil {
			return nil, err
		}
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
		procs = append(procs, cmd)
		return cmd, nil
	}
	if _, err := start("watcher.log", append(os.Environ(), "DBUS_SESSION_BUS_ADDRESS="+bus), tools[1]); err != nil {
		return fail(rows, err)
	}
	cmd, err := start("tray.log", []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "DBUS_SESSION_BUS_ADDRESS=" + bus,
		"FLEET_DESKTOP_FLEET_URL=" + srv.URL(), "FLEET_DESKTOP_DEVICE_IDENTIFIER_PATH=" + idFile,
		"FLEET_DESKTOP_FLEET_ROOT_CA=" + srv.CACertFile()}, tray)
	if err != nil {
		return fail(rows, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	procs = procs[:len(procs)-1] // waited for above
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); <-exited }()
	trayLog := filepath.Join(dir, "tray.log")
	for deadline := time.Now().Add(30 * time.Second); ; {
		b, _ := os.ReadFile(trayLog)
		if bytes.Contains(b, []byte("connected to fleet")) {
			break
		}
		if time.Now().After(deadline) || exitedErr(exited, "tray")() != nil {
			return fail(rows, fmt.Errorf("the tray did not reach Fleet: %s", tail(string(b), 5)))
		}
		time.Sleep(50 * time.Millisecond)
	}
	f, err := watchIdle(ctx, cmd.Process.Pid, exitedErr(exited, "the tray app"))
	if err != nil {
		return fail(rows, err)
	}
	rows[0].Fig, rows[1].Fig = f.rss, f.cpu
	return rows
}

// deviceToken enrolls a host and registers a device token for it, as
// orbit would, and returns the token.
func deviceToken(srv *fleettest.Server, secret string) (string, error) {
	post := func(path string, body, out any) error {
		b, _ := json.Marshal(body)
		resp, err := srv.Client().Post(srv.URL()+path, "application/json", bytes.NewReader(b))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", path, resp.Status)
		}
		if out == nil {
			return nil
		}
		return json.NewDecoder(resp.Body).Decode(out)
	}
	var enrolled struct {
		Key string `json:"orbit_node_key"`
	}
	if err := post("/api/fleet/orbit/enroll", map[string]string{"enroll_secret": secret, "hardware_uuid": "bench-tray", "hostname": "bench"}, &enrolled); err != nil {
		return "", err
	}
	const token = "0b0e5b7c-6a2d-4f1e-9c3b-7d8e9f0a1b2c"
	return token, post("/api/fleet/orbit/device_token", map[string]string{"orbit_node_key": enrolled.Key, "device_auth_token": token}, nil)
}
