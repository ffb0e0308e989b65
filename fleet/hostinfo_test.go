package fleet

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestHostInfoFromStandinOsqueryd(t *testing.T) {
	t.Parallel()
	osqueryd := standinOsqueryd(t)
	got, err := HostInfoFromOsquery(context.Background(), osqueryd, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Compare with the tables read one by one.
	read := func(q string) map[string]string {
		out, err := exec.Command(osqueryd, "-S", "--json", q).Output()
		if err != nil {
			t.Fatal(err)
		}
		var rows []map[string]string
		if err := json.Unmarshal(out, &rows); err != nil || len(rows) != 1 {
			t.Fatalf("%q: %s %v", q, out, err)
		}
		return rows[0]
	}
	si := read("select * from system_info")
	osv := read("select * from os_version")
	oi := read("select * from osquery_info")
	want := HostInfo{
		HardwareUUID: si["uuid"], HardwareSerial: si["hardware_serial"], Hostname: si["hostname"],
		ComputerName: si["computer_name"], HardwareModel: si["hardware_model"],
		Platform: osv["platform"], PlatformLike: osv["platform_like"], OsqueryIdentifier: oi["uuid"],
	}
	if got != want {
		t.Errorf("host info %+v, want %+v", got, want)
	}
}

func TestHostInfoFromOsqueryFailures(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("fake osqueryd scripts are sh")
	}
	t.Parallel()
	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope"), "run osqueryd"},
		{"empty path", "", "no osqueryd"},
		{"fails", script("fail", "echo boom >&2; exit 1"), "run osqueryd"},
		{"garbage", script("garbage", "echo not json"), "parse"},
		{"no rows", script("norows", "echo '[]'"), "no host facts"},
		{"no uuid", script("nouuid", `echo '[{"hostname":"h"}]'`), "no hardware uuid"},
		{"hangs", script("hang", "exec sleep 30"), "timed out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			timeout := 20 * time.Second // generous: only the hang case may time out
			if tc.name == "hangs" {
				timeout = 300 * time.Millisecond
			}
			_, err := HostInfoFromOsquery(context.Background(), tc.path, timeout)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestGoHostInfo(t *testing.T) {
	t.Parallel()
	h := GoHostInfo()
	host, _ := os.Hostname()
	if h.Hostname != host || h.HardwareUUID == "" || h.Platform == "" || h.OsqueryIdentifier != h.HardwareUUID {
		t.Errorf("GoHostInfo %+v", h)
	}
	if h2 := GoHostInfo(); h2.HardwareUUID != h.HardwareUUID {
		t.Errorf("hardware uuid not stable: %s then %s", h.HardwareUUID, h2.HardwareUUID)
	}
}

func TestFormatUUID(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"0123456789abcdef0123456789abcdef":      "01234567-89AB-CDEF-0123-456789ABCDEF",
		" 01234567-89ab-cdef-0123-456789abcdef": "01234567-89AB-CDEF-0123-456789ABCDEF",
		"not-a-uuid":                            "not-a-uuid",
	} {
		if got := formatUUID(in); got != want {
			t.Errorf("formatUUID(%q) = %q, want %q", in, got, want)
		}
	}
}
