package agent

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/fleettest"
	"github.com/orbitagent/orbit/internal/logcapture"
	"github.com/orbitagent/orbit/internal/safefile"
	"github.com/orbitagent/orbit/internal/testwait"
	"github.com/orbitagent/orbit/status"
	"github.com/orbitagent/orbit/supervisor"
	"github.com/orbitagent/orbit/supervisor/supervisortest"
)

// fakeStarter records what the runner starts; each child runs until it is
// terminated.
type fakeStarter struct {
	*supervisortest.Starter[started]
}

// started is one start, with the flagfile as it was at that moment.
type started struct {
	spec  supervisor.Spec
	flags string
}

func newFakeStarter() fakeStarter {
	s := fakeStarter{supervisortest.NewStarter[started]()}
	s.TermCode = -1
	return s
}

func (s fakeStarter) Start(spec supervisor.Spec, _, _ *os.File) (supervisor.Child, error) {
	var flags string
	for _, a := range spec.Args {
		if p, ok := strings.CutPrefix(a, "--flagfile="); ok {
			b, _ := os.ReadFile(p)
			flags = string(b)
		}
	}
	return s.Launch(started{spec, flags}), nil
}

func (s fakeStarter) next(t *testing.T) started {
	t.Helper()
	return s.Next(t).Spec
}

// run starts Run in the background.
func run(ctx context.Context, cfg Config, deps Deps) <-chan error {
	done := make(chan error, 1)
	go func() {
		out, err := Run(ctx, cfg, deps)
		if err == nil && out.Reexec != "" {
			err = errors.New("unexpected re-exec of " + out.Reexec)
		}
		done <- err
	}()
	return done
}

func wait(t *testing.T, done <-chan error) error {
	t.Helper()
	return testwait.Recv(t, done, "return of Run")
}

// stateOf polls the state file, bounded, until cond holds for name.
func stateOf(t *testing.T, cfg Config, name string, cond func(status.Component) bool) status.Component {
	t.Helper()
	var snap status.Snapshot
	var err error
	if !testwait.Poll(testwait.Limit, func() bool {
		snap, err = status.Read(cfg.Layout.State())
		return err == nil && cond(snap.Components[name])
	}) {
		t.Fatalf("state of %s: %+v (%v)", name, snap.Components[name], err)
	}
	return snap.Components[name]
}

func TestRunStandaloneOwnsTheRootAndReportsOsqueryd(t *testing.T) {
	t.Parallel()
	cfg := standalone(t)
	cfg.OsqueryArgs = []string{"--verbose"}
	st := newFakeStarter()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := run(ctx, cfg, Deps{Logger: zerolog.Nop(), Clock: newFakeClock(), Starter: st})

	child := st.Next(t)
	s := child.Spec
	if s.spec.Path != cfg.OsquerydPath || s.spec.Dir != cfg.Layout.Root {
		t.Fatalf("started %+v", s.spec)
	}
	if args := s.spec.Args; !slices.Contains(args, "--pidfile="+cfg.Layout.OsqueryPID()) || args[len(args)-1] != "--verbose" {
		t.Fatalf("osqueryd argv %q", args)
	}
	osq := stateOf(t, cfg, "osqueryd", func(c status.Component) bool { return c.State == status.StateRunning && c.Version != "" })
	if osq.PID != child.PID() || osq.Version != "9.9.9" || osq.Path != cfg.OsquerydPath {
		t.Fatalf("osqueryd in the state file: %+v", osq)
	}
	if o := stateOf(t, cfg, "orbit", func(c status.Component) bool { return true }); o.State != status.StateRunning || o.PID != os.Getpid() || o.Version != "1.2.3-test" {
		t.Fatalf("orbit in the state file: %+v", o)
	}

	// A second orbit on the same root is refused while this one runs.
	_, err := Run(context.Background(), cfg, Deps{Logger: zerolog.Nop(), Starter: newFakeStarter()})
	var refused *Refusal
	if !errors.As(err, &refused) || !errors.Is(err, supervisor.ErrLocked) {
		t.Fatalf("second Run = %v, want a Refusal wrapping ErrLocked", err)
	}

	cancel()
	if err := wait(t, done); err != nil {
		t.Fatalf("Run = %v", err)
	}
	snap, err := status.Read(cfg.Layout.State())
	if err != nil || snap.Components["orbit"].State != status.StateStopped || snap.Components["osqueryd"].State != status.StateStopped {
		t.Fatalf("state after the stop: %+v (%v)", snap.Components, err)
	}
	l, err := safefile.TryLock(cfg.Layout.Lock(), 0o644)
	if err != nil {
		t.Fatalf("root still locked after Run returned: %v", err)
	}
	l.Release()
}

func TestRunRefusesBadInputWithoutTouchingTheDisk(t *testing.T) {
	t.Parallel()
	cfg := standalone(t)
	cfg.StopGrace = 0
	_, err := Run(context.Background(), cfg, Deps{Logger: zerolog.Nop()})
	var refused *Refusal
	if !errors.As(err, &refused) || !strings.Contains(err.Error(), "--stop-grace") {
		t.Fatalf("Run = %v, want a Refusal about --stop-grace", err)
	}
	if _, err := os.Stat(cfg.Layout.Root); !os.IsNotExist(err) {
		t.Fatalf("refused run created the root: %v", err)
	}
}

func TestRunRefusesALooseRoot(t *testing.T) {
	t.Parallel()
	cfg := standalone(t)
	if err := os.MkdirAll(cfg.Layout.Root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cfg.Layout.Root, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err := Run(context.Background(), cfg, Deps{Logger: zerolog.Nop()})
	var refused *Refusal
	if !errors.As(err, &refused) || !strings.Contains(err.Error(), "writable by group or others") {
		t.Fatalf("Run = %v, want a Refusal about the root's mode", err)
	}
	// Refused before anything is created in it.
	if entries, err := os.ReadDir(cfg.Layout.Root); err != nil || len(entries) != 0 {
		t.Fatalf("the refused root holds %v (%v)", entries, err)
	}
}

// A CA bundle that is no PEM is refused before Run touches the root
// directory (it used to be found when the client was built, after the
// root, the lock and a state.json saying "running" were written).
func TestRunRefusesAFleetCABundleThatIsNoPEM(t *testing.T) {
	t.Parallel()
	cfg := standalone(t)
	notPEM := cfg.OsquerydPath + ".pem"
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.FleetURL, cfg.EnrollSecret, cfg.FleetCertificate = "https://127.0.0.1:1", "s", notPEM
	_, err := Run(context.Background(), cfg, Deps{Logger: zerolog.Nop(), Clock: newFakeClock(), Starter: newFakeStarter()})
	var refused *Refusal
	if !errors.As(err, &refused) || !strings.Contains(err.Error(), "--fleet-certificate") || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("Run = %v, want a Refusal naming --fleet-certificate and the bad bundle", err)
	}
	if _, err := os.Stat(cfg.Layout.Root); !os.IsNotExist(err) {
		t.Fatalf("the refused run created the root dir: %v", err)
	}
}

// With Fleet, osqueryd waits for the server's first config, so it starts
// with the server's flags instead of restarting for them.
func TestRunStartsOsquerydAfterFleetsFirstConfig(t *testing.T) {
	t.Parallel()
	srv := fleettest.Start(t, fleettest.Config{EnrollSecrets: []string{"s3cret"}, TLS: true})
	if err := srv.SetStartupFlags(map[string]any{"distributed_interval": 7}); err != nil {
		t.Fatal(err)
	}
	cfg := standalone(t)
	cfg.FleetURL, cfg.FleetCertificate, cfg.EnrollSecret = srv.URL(), srv.CACertFile(), "s3cret"
	cfg.SecretOnArgv = true
	st := newFakeStarter()
	var log logcapture.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := run(ctx, cfg, Deps{Logger: zerolog.New(&log), Clock: newFakeClock(), Starter: st})

	s := st.next(t)
	if !strings.Contains(s.flags, "--distributed_interval=7") {
		t.Fatalf("osqueryd started before Fleet's flags were applied: flagfile %q", s.flags)
	}
	if !slices.Contains(s.spec.Args, "--tls_server_certs="+cfg.FleetCertificate) || !slices.Contains(s.spec.Env, "ENROLL_SECRET=s3cret") {
		t.Fatalf("osqueryd not pointed at Fleet: %q", s.spec.Args)
	}
	if hosts := srv.OrbitHosts(); len(hosts) != 1 {
		t.Fatalf("%d orbit hosts enrolled, want 1", len(hosts))
	}
	key, err := os.ReadFile(cfg.Layout.NodeKey())
	if err != nil || strings.TrimSpace(string(key)) != srv.OrbitHosts()[0].OrbitNodeKey {
		t.Fatalf("node key file %q (%v)", key, err)
	}
	cancel()
	if err := wait(t, done); err != nil {
		t.Fatalf("Run = %v", err)
	}
	out := log.String()
	if !strings.Contains(out, "enroll secret given on the command line") {
		t.Fatalf("secret on argv not warned about:\n%s", out)
	}
	if strings.Contains(out, "s3cret") {
		t.Fatalf("the enroll secret is in the log:\n%s", out)
	}
}
