package osquery

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/internal/testdir"
)

// standinQuery runs one query in the stand-in's shell on db.
func standinQuery(t *testing.T, bin, db, q string) map[string]string {
	t.Helper()
	out, err := exec.Command(bin, "-S", "--database_path="+db, "--json", q).Output()
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]string
	if err := json.Unmarshal(out, &rows); err != nil || len(rows) != 1 {
		t.Fatalf("%q: %s %v", q, out, err)
	}
	return rows[0]
}

func TestHostFactsFromTheShell(t *testing.T) {
	t.Parallel()
	requireUnix(t)
	bin := testbin.Build(t, "./testdata/osqueryd", "osqueryd", "")
	db := filepath.Join(t.TempDir(), "osquery.db")
	got, err := HostFactsFromShell(context.Background(), bin, db)
	if err != nil {
		t.Fatal(err)
	}
	// Compare with the tables read one by one.
	si := standinQuery(t, bin, db, "select * from system_info")
	osv := standinQuery(t, bin, db, "select * from os_version")
	oi := standinQuery(t, bin, db, "select * from osquery_info")
	want := HostFacts{
		HardwareUUID: si["uuid"], HardwareSerial: si["hardware_serial"], Hostname: si["hostname"],
		ComputerName: si["computer_name"], HardwareModel: si["hardware_model"],
		Platform: osv["platform"], PlatformLike: osv["platform_like"], OsqueryUUID: oi["uuid"], InstanceID: oi["instance_id"],
	}
	if got != want || got.InstanceID == "" {
		t.Errorf("host facts %+v, want %+v", got, want)
	}
}

// On a host without a hardware UUID osquery invents one and keeps it in
// its database: the facts read before the daemon's first start (the shell
// on the daemon's database) and those read from the running daemon (its
// socket) name the same host, and both match what osqueryd itself uses.
// Not parallel: the stand-in's switch is in the environment orbit passes
// on to `osqueryd -S`.
func TestHostFactsShellAndDaemonAgreeWithoutHardwareUUID(t *testing.T) {
	requireUnix(t)
	t.Setenv("OSQUERYD_STANDIN_NO_HARDWARE_UUID", "1")
	bin := testbin.Build(t, "./testdata/osqueryd", "osqueryd", "")
	dir := testdir.Short(t)
	db := filepath.Join(dir, "osquery.db")
	r := &HostFactsReader{Client: testClient(t, filepath.Join(dir, "orbit-osquery.em")),
		Path: func() (string, error) { return bin, nil }, DatabasePath: db}

	before, err := r.HostFacts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// A shell on another database invents another UUID: the database is
	// what makes the identity.
	other, err := HostFactsFromShell(context.Background(), bin, filepath.Join(dir, "other.db"))
	if err != nil {
		t.Fatal(err)
	}
	if other.HardwareUUID == before.HardwareUUID {
		t.Fatalf("two databases gave the same invented UUID %s: the test proves nothing", before.HardwareUUID)
	}

	osq := startStandin(t, dir, []string{"OSQUERYD_STANDIN_NO_HARDWARE_UUID=1"})
	osq.waitAnswering(t)
	during, err := r.HostFacts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if during != before {
		t.Fatalf("facts from the daemon %+v differ from those before its start %+v", during, before)
	}
	// While the daemon holds the database, the shell cannot open it: the
	// reader must have asked the daemon. (Its lock retries, shrunk.)
	t.Setenv("OSQUERYD_STANDIN_INTERVAL_SCALE", "0.01")
	if _, err := HostFactsFromShell(context.Background(), bin, db); err == nil {
		t.Fatal("the shell read the database the daemon holds: the reader may not have used the socket")
	}
	if before.OsqueryUUID != before.HardwareUUID || before.InstanceID == "" {
		t.Fatalf("facts %+v: want osquery's uuid to be the host uuid and an instance id", before)
	}
}

func TestHostFactsReaderWithoutOsqueryd(t *testing.T) {
	t.Parallel()
	dir := testdir.Short(t)
	r := &HostFactsReader{Client: testClient(t, filepath.Join(dir, "orbit-osquery.em")),
		Path:         func() (string, error) { return "", errors.New("not in bin/ yet") },
		DatabasePath: filepath.Join(dir, "osquery.db")}
	if _, err := r.HostFacts(context.Background()); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("HostFacts = %v, want ErrNotInstalled", err)
	}
}

func TestHostFactsFromShellFailures(t *testing.T) {
	t.Parallel()
	requireUnix(t)
	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	db := filepath.Join(dir, "osquery.db")
	for _, tc := range []struct {
		name, path, db, want string
	}{
		{"missing", filepath.Join(dir, "nope"), db, "run osqueryd"},
		{"empty path", "", db, "no osqueryd"},
		{"no database", script("nodb", "echo '[]'"), "", "no osquery database path"},
		{"fails", script("fail", "echo boom >&2; exit 1"), db, "run osqueryd"},
		{"garbage", script("garbage", "echo not json"), db, "parse"},
		{"no rows", script("norows", "echo '[]'"), db, "no host facts"},
		{"no uuid", script("nouuid", `echo '[{"hostname":"h"}]'`), db, "no hardware uuid"},
		{"hangs", script("hang", "exec sleep 30"), db, "did not finish in time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			timeout := 20 * time.Second // generous: only the hang case may time out
			if tc.name == "hangs" {
				timeout = 300 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			_, err := HostFactsFromShell(ctx, tc.path, tc.db)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
