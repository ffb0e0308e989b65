package agent

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/component"
	"github.com/orbitagent/orbit/fleettest"
	"github.com/orbitagent/orbit/status"
	"github.com/orbitagent/orbit/supervisor"
	"github.com/orbitagent/orbit/supervisor/session"
	"github.com/orbitagent/orbit/supervisor/supervisortest"
)

// withDesktop is a Fleet configuration with the tray app from a path.
func withDesktop(t *testing.T, fleetURL string) Config {
	t.Helper()
	cfg := standalone(t)
	tray := filepath.Join(t.TempDir(), "fleet-desktop")
	if err := os.WriteFile(tray, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg.FleetURL, cfg.EnrollSecret = fleetURL, "s3cret"
	cfg.FleetDesktop, cfg.DesktopPath = true, tray
	return cfg
}

func TestDesktopEnv(t *testing.T) {
	t.Parallel()
	cfg := withDesktop(t, "https://fleet.example.com")
	cfg.FleetCertificate = "/etc/orbit/fleet.pem"
	cfg.DesktopAlternativeBrowserHost = "fleet.corp"
	want := []string{
		"FLEET_DESKTOP_FLEET_URL=https://fleet.example.com",
		"FLEET_DESKTOP_DEVICE_IDENTIFIER_PATH=" + cfg.Layout.Identifier(),
		"FLEET_DESKTOP_FLEET_ROOT_CA=/etc/orbit/fleet.pem",
		"FLEET_DESKTOP_ALTERNATIVE_BROWSER_HOST=fleet.corp",
	}
	if got := cfg.desktopEnv(); !slices.Equal(got, want) {
		t.Errorf("tray environment %q, want %q", got, want)
	}
	cfg.FleetCertificate, cfg.Insecure, cfg.DesktopAlternativeBrowserHost = "", true, ""
	if got := cfg.desktopEnv(); !slices.Contains(got, "FLEET_DESKTOP_INSECURE=1") || len(got) != 3 {
		t.Errorf("insecure tray environment %q", got)
	}
}

// staticSessions is a lister with a fixed answer.
type staticSessions []session.Session

func (s staticSessions) Sessions(context.Context) ([]session.Session, error) { return s, nil }

// With --fleet-desktop the agent runs the tray app in each user's session
// as that user, with orbit's Fleet settings and nothing of orbit's own
// environment; it reports as desktop/<user>, and the updater's restart
// of the desktop component restarts it.
func TestBuildRunsTheTrayPerSession(t *testing.T) {
	t.Parallel()
	srv := fleettest.Start(t, fleettest.Config{EnrollSecrets: []string{"s3cret"}, TLS: true})
	cfg := withDesktop(t, srv.URL())
	cfg.FleetCertificate = srv.CACertFile()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Layout.Create(); err != nil {
		t.Fatal(err)
	}
	alice := session.Session{ID: "2", Home: "/home/alice", Type: "wayland",
		User: supervisor.User{Name: "alice", UID: 1000, GID: 1000, Groups: []uint32{1000}},
		Env:  []string{"DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus", "HOME=/home/alice", "USER=alice"}}
	st := newFakeStarter()
	store := status.NewStore(cfg.Layout.State(), cfg.Version, nil)
	a, err := build(cfg, Deps{Logger: zerolog.Nop(), Clock: newFakeClock(), Starter: st, Sessions: staticSessions{alice}}, store)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.group.Run(ctx) }()
	defer func() {
		cancel()
		<-done
		a.reporter.Close()
	}()

	tray := func() *supervisortest.Child[started] {
		for {
			if c := st.Next(t); c.Spec.spec.User != nil {
				return c
			}
		}
	}
	child := tray()
	s := child.Spec
	if s.spec.Path != cfg.DesktopPath || s.spec.User.Name != "alice" || s.spec.User.UID != 1000 || s.spec.Dir != "/home/alice" {
		t.Fatalf("tray spec %+v (user %+v)", s.spec, s.spec.User)
	}
	for _, want := range []string{
		"FLEET_DESKTOP_FLEET_URL=" + srv.URL(),
		"FLEET_DESKTOP_DEVICE_IDENTIFIER_PATH=" + cfg.Layout.Identifier(),
		"FLEET_DESKTOP_FLEET_ROOT_CA=" + srv.CACertFile(),
		"DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus",
	} {
		if !slices.Contains(s.spec.Env, want) {
			t.Errorf("tray environment %q lacks %s", s.spec.Env, want)
		}
	}
	for _, kv := range s.spec.Env {
		if strings.Contains(kv, "s3cret") || strings.HasPrefix(kv, "ORBIT_") {
			t.Errorf("tray environment has %q", kv)
		}
	}
	c := stateOf(t, cfg, "desktop/alice", func(c status.Component) bool { return c.State == status.StateRunning })
	if c.User != "alice" || c.Session != "2" || c.PID != child.PID() || c.Path != cfg.DesktopPath {
		t.Errorf("desktop/alice in the state file: %+v", c)
	}

	// A new tray release: the updater restarts the desktop component.
	a.procs.Restart(component.Desktop)
	if s2 := tray().Spec; s2.spec.User.Name != "alice" {
		t.Fatalf("restart started %+v", s2.spec.User)
	}
	if a.procs.CrashLooping(component.Desktop) {
		t.Error("the tray app is reported crash-looping")
	}
}
