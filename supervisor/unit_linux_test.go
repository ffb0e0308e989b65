package supervisor

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/orbitagent/orbit/internal/testbin"
)

// SystemdUnit must give exactly what kardianos/service writes when orbit
// installs itself as a systemd service (orbit service install goes through
// NewService and Install like this), for the settings packages use and
// for ones that exercise the escaping.
func TestSystemdUnitEqualsInstalledUnit(t *testing.T) {
	testbin.NeedRoot(t, "installing a systemd unit writes /etc/systemd/system")
	for i, cfg := range []ServiceConfig{
		{Description: "Orbit osquery", Executable: "/opt/orbit/bin/orbit/orbit", StopGrace: 10 * time.Second},
		{
			Description: "Orbit runs osqueryd, keeps it updated and connects it to Fleet",
			Executable:  "/opt/my orbit/bin/orbit/orbit",
			Args:        []string{"--root-dir=/opt/my orbit", "--fleet-url=https://fleet.example.com:8443", `--x="quoted"`, "--", "--verbose"},
			StopGrace:   3 * time.Second,
		},
	} {
		// Not parallel: NewService picks kardianos's service system globally.
		cfg.Name = fmt.Sprintf("orbit-unit-test-%d-%d", os.Getpid(), i)
		cfg.System = "linux-systemd"
		want, err := SystemdUnit(cfg)
		if err != nil {
			t.Fatal(err)
		}
		svc, err := NewService(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		unit := svc.UnitPath()
		t.Cleanup(func() { os.Remove(unit) })
		if err := svc.Install(); err != nil && !errors.Is(err, ErrManagerNotRunning) {
			t.Fatalf("install %s: %v", cfg.Name, err)
		}
		got, err := os.ReadFile(unit)
		if err != nil {
			t.Fatalf("kardianos wrote no unit: %v", err)
		}
		if string(got) != want {
			t.Errorf("SystemdUnit differs from the installed unit.\nSystemdUnit:\n%s\ninstalled:\n%s", want, got)
		}
	}
}
