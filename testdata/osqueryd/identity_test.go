package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/orbitagent/orbit/fleettest"
	"github.com/orbitagent/orbit/internal/testdir"
)

// randomUUIDRE is a version 4 UUID as osquery generates one (lower case).
var randomUUIDRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// shellUUIDs runs `-S` once and returns system_info.uuid and
// osquery_info.uuid, which osquery both reads from getHostUUID.
func shellUUIDs(t *testing.T, env []string, args ...string) (string, string) {
	t.Helper()
	all := append([]string{"-S", "--json", "select si.uuid as s, oi.uuid as o from system_info si, osquery_info oi"}, args...)
	r := runBin(t, standin, env, "", all...)
	if r.code != 0 {
		t.Fatalf("%v: exit %d stderr %q", all, r.code, r.stderr)
	}
	rows := decodeRows(t, r.stdout)
	if len(rows) != 1 {
		t.Fatalf("rows %v", rows)
	}
	return rows[0]["s"], rows[0]["o"]
}

func shellUUID(t *testing.T, env []string, args ...string) string {
	t.Helper()
	s, o := shellUUIDs(t, env, args...)
	if s == "" || s != o {
		t.Fatalf("system_info.uuid %q and osquery_info.uuid %q differ", s, o)
	}
	return s
}

// daemonUUID starts a daemon on db, reads system_info.uuid over its
// extension socket and stops it.
func daemonUUID(t *testing.T, env []string, db string) string {
	t.Helper()
	dir := testdir.Short(t)
	sock := filepath.Join(dir, "o.em")
	p := startDaemon(t, standin, env, "--database_path="+db, "--extensions_socket="+sock, "--pidfile="+filepath.Join(dir, "p"))
	c := managerClient(t, p, sock, 10*time.Second)
	row, err := c.QueryRow("select si.uuid as s, oi.uuid as o from system_info si, osquery_info oi")
	if err != nil || row["s"] == "" || row["s"] != row["o"] {
		t.Fatalf("daemon uuids %v, %v", row, err)
	}
	c.Close()
	p.stop(t)
	return row["s"]
}

func TestHostUUIDLivesInTheDatabase(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  []string
		// hardware: the UUID comes from the hardware, so runs without a
		// database agree with it; otherwise each such run draws a new one.
		hardware bool
		want     string
	}{
		{"simulated hardware uuid", nil, true, ""},
		{"given hardware uuid", []string{"OSQUERYD_STANDIN_HARDWARE_UUID=4c4c4544-0042-3510-8052-b4c04f564433"}, true,
			"4c4c4544-0042-3510-8052-b4c04f564433"},
		{"all ones is not a placeholder", []string{"OSQUERYD_STANDIN_HARDWARE_UUID=FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"}, true,
			"FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"},
		{"no hardware uuid", []string{"OSQUERYD_STANDIN_NO_HARDWARE_UUID=1"}, false, ""},
		{"placeholder", []string{"OSQUERYD_STANDIN_HARDWARE_UUID=03000200-0400-0500-0006-000700080009"}, false, ""},
		{"placeholder in upper case", []string{"OSQUERYD_STANDIN_HARDWARE_UUID=03020100-0504-0706-0809-0A0B0C0D0E0F"}, false, ""},
		{"zeros", []string{"OSQUERYD_STANDIN_HARDWARE_UUID=00000000-0000-0000-0000-000000000000"}, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := filepath.Join(testdir.Short(t), "osquery.db")
			first := shellUUID(t, tc.env, "--database_path="+db)
			if tc.want != "" && first != tc.want {
				t.Fatalf("uuid %q, want the hardware uuid %q", first, tc.want)
			}
			if !tc.hardware && !randomUUIDRE.MatchString(first) {
				t.Fatalf("uuid %q is not a generated (v4, lower-case) uuid", first)
			}
			if again := shellUUID(t, tc.env, "--database_path="+db); again != first {
				t.Fatalf("second -S on the same database: %q, want %q", again, first)
			}
			if d := daemonUUID(t, tc.env, db); d != first {
				t.Fatalf("daemon on the same database reports %q, -S reported %q", d, first)
			}
			a := shellUUID(t, tc.env)
			b := shellUUID(t, tc.env)
			if tc.hardware {
				if a != first || b != first {
					t.Fatalf("-S without a database: %q, %q; want the hardware uuid %q", a, b, first)
				}
			} else if a == b || a == first || b == first {
				// The drift orbit must avoid: without the daemon's database,
				// every run draws a new UUID.
				t.Fatalf("-S without a database: %q, %q (database: %q); want three different uuids", a, b, first)
			}
		})
	}
}

// osquery keeps the stored UUID even when the hardware reports another.
func TestHostUUIDSurvivesAHardwareChange(t *testing.T) {
	t.Parallel()
	db := filepath.Join(testdir.Short(t), "osquery.db")
	a := []string{"OSQUERYD_STANDIN_HARDWARE_UUID=11111111-2222-3333-4444-555555555555"}
	b := []string{"OSQUERYD_STANDIN_HARDWARE_UUID=66666666-7777-8888-9999-000000000000"}
	if got := shellUUID(t, a, "--database_path="+db); got != "11111111-2222-3333-4444-555555555555" {
		t.Fatalf("first uuid %q", got)
	}
	if got := shellUUID(t, b, "--database_path="+db); got != "11111111-2222-3333-4444-555555555555" {
		t.Fatalf("after a hardware change: %q, want the stored uuid", got)
	}
	if got := shellUUID(t, b); got != "66666666-7777-8888-9999-000000000000" {
		t.Fatalf("without the database: %q, want the new hardware uuid", got)
	}
	// --disable_database makes the database ephemeral even with a path.
	if got := shellUUID(t, b, "--database_path="+db, "--disable_database"); got != "66666666-7777-8888-9999-000000000000" {
		t.Fatalf("with --disable_database: %q", got)
	}
}

// While a daemon holds the database, `-S --database_path` on it fails
// after osquery's retries, with exit 1; the daemon is untouched.
func TestShellFailsWhileTheDaemonHoldsTheDatabase(t *testing.T) {
	t.Parallel()
	env := []string{"OSQUERYD_STANDIN_NO_HARDWARE_UUID=1", "OSQUERYD_STANDIN_INTERVAL_SCALE=0.01"}
	dir := testdir.Short(t)
	db, sock := filepath.Join(dir, "osquery.db"), filepath.Join(dir, "o.em")
	p := startDaemon(t, standin, env, "--database_path="+db, "--extensions_socket="+sock, "--pidfile="+filepath.Join(dir, "p"))
	c := managerClient(t, p, sock, 10*time.Second)
	row, err := c.QueryRow("select uuid from system_info")
	if err != nil {
		t.Fatal(err)
	}
	r := runBin(t, standin, env, "", "-S", "--json", "--database_path="+db, "select uuid from system_info")
	if r.code != 1 || !strings.Contains(r.stderr, "While lock file") || r.stdout != "" {
		t.Fatalf("-S on a held database: exit %d stdout %q stderr %q; want exit 1 and RocksDB's lock error", r.code, r.stdout, r.stderr)
	}
	if p.exited() {
		t.Fatal("daemon died")
	}
	c.Close()
	p.stop(t)
	if got := shellUUID(t, env, "--database_path="+db); got != row["uuid"] {
		t.Fatalf("-S after the daemon stopped: %q, daemon had %q", got, row["uuid"])
	}
}

// In Fleet mode the daemon enrolls with the UUID from its database, which
// is what `-S --database_path` on that database reports.
func TestEnrollUsesTheDatabaseUUID(t *testing.T) {
	t.Parallel()
	srv := startFleet(t)
	root := testdir.Short(t)
	env := append([]string{"OSQUERYD_STANDIN_NO_HARDWARE_UUID=1"}, tlsEnv...)
	db := filepath.Join(root, "osquery.db")
	before := shellUUID(t, env, "--database_path="+db)
	p := startDaemon(t, standin, env, fleetFlags(t, root, fleetHost(t, srv), srv.CACertFile())...)
	enroll, err := srv.WaitForCall(ctxT(t), fleettest.CallFilter{Method: "POST", Path: "/api/v1/osquery/enroll"})
	if err != nil {
		t.Fatalf("no enroll: %v; stderr %s", err, p.stderr.String())
	}
	details, _ := enroll.Body["host_details"].(map[string]any)
	si, _ := details["system_info"].(map[string]any)
	oi, _ := details["osquery_info"].(map[string]any)
	if enroll.Body["host_identifier"] != before || si["uuid"] != before || oi["uuid"] != before {
		t.Fatalf("enroll host_identifier %v, system_info.uuid %v, osquery_info.uuid %v; -S --database_path said %q",
			enroll.Body["host_identifier"], si["uuid"], oi["uuid"], before)
	}
	p.stop(t)
}

func decodeRows(t *testing.T, out string) []map[string]string {
	t.Helper()
	var rows []map[string]string
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("output is not a JSON array of objects: %v\n%s", err, out)
	}
	return rows
}
