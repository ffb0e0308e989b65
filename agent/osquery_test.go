package agent

import (
	"context"
	"os"
	"testing"

	"github.com/orbitagent/orbit/status"
)

func TestOrbitInfoIsWhatThisRunKnows(t *testing.T) {
	t.Parallel()
	cfg := standalone(t)
	cfg.FleetURL, cfg.EnableScripts = "https://fleet.example.com", true
	cfg.Channels = Channels{"stable", "edge", "5.1"}
	if err := cfg.Layout.Create(); err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	store := status.NewStore(cfg.Layout.State(), cfg.Version, clk)
	info := &orbitInfo{cfg: cfg, store: store, startedAt: clk.Now()}

	got, err := info.OrbitInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != "1.2.3-test" || got.Enrolled || got.DeviceAuthToken != "" || got.OrbitChannel != "stable" ||
		got.OsquerydChannel != "edge" || got.DesktopChannel != "5.1" || !got.ScriptsEnabled || got.UpdateURL != "" || !got.StartedAt.Equal(clk.Now()) {
		t.Fatalf("before enrolling: %+v", got)
	}
	const tok = "5f0c1c2e-8a1b-4c3d-9e4f-1a2b3c4d5e6f"
	if err := os.WriteFile(cfg.Layout.Identifier(), []byte(tok+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := store.SetFleet(status.Fleet{Enrolled: true, LastError: "config: boom"}); err != nil {
		t.Fatal(err)
	}
	if err := store.UpdateComponent("desktop", func(c *status.Component) { c.Version = "1.9.0" }); err != nil {
		t.Fatal(err)
	}
	got, _ = info.OrbitInfo(context.Background())
	if !got.Enrolled || got.LastRecordedError != "config: boom" || got.DeviceAuthToken != tok || got.DesktopVersion != "1.9.0" {
		t.Fatalf("after enrolling: %+v", got)
	}
}
