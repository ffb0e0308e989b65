package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/orbitagent/orbit/internal/capped"
	"github.com/orbitagent/orbit/internal/safefile"
	"github.com/orbitagent/orbit/supervisor/osqueryd"
)

// hostInfoQuery reads the enroll facts in one osqueryd run, as Fleet's orbit
// does. osquery_info.uuid is the identifier osqueryd enrolls with under
// --host_identifier=uuid, so Fleet can match the two enrollments.
const hostInfoQuery = "SELECT si.uuid, si.hardware_serial, si.hostname, si.computer_name, si.hardware_model, " +
	"os.platform, os.platform_like, oi.uuid AS osquery_uuid FROM system_info si, os_version os, osquery_info oi"

// DefaultHostInfoTimeout bounds the osqueryd run that collects host facts.
const DefaultHostInfoTimeout = 30 * time.Second

// maxOsqueryOutput bounds what is read from osqueryd's stdout.
const maxOsqueryOutput = 1 << 20

// HostInfoFromOsquery runs `<osqueryd> -S --json <query>` and returns the
// enroll facts. Errors mean the caller should fall back to GoHostInfo.
func HostInfoFromOsquery(ctx context.Context, osquerydPath string, timeout time.Duration) (HostInfo, error) {
	if osquerydPath == "" {
		return HostInfo{}, errors.New("no osqueryd path")
	}
	if timeout <= 0 {
		timeout = DefaultHostInfoTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, osquerydPath, "-S", "--json", hostInfoQuery)
	cmd.WaitDelay = time.Second                   // do not hang on a child that keeps stdout open
	cmd.Env = osqueryd.ChildEnv(os.Environ(), "") // no enroll secret for a query
	stdout := capped.Buffer{Max: maxOsqueryOutput}
	cmd.Stdout = &stdout
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return HostInfo{}, fmt.Errorf("osqueryd host facts query timed out after %s", timeout)
		}
		return HostInfo{}, fmt.Errorf("run osqueryd to read host facts: %w", err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &rows); err != nil {
		return HostInfo{}, fmt.Errorf("parse osqueryd host facts: %w", err)
	}
	if len(rows) == 0 {
		return HostInfo{}, errors.New("osqueryd returned no host facts")
	}
	r := rows[0]
	h := HostInfo{
		HardwareUUID:      str(r["uuid"]),
		HardwareSerial:    str(r["hardware_serial"]),
		Hostname:          str(r["hostname"]),
		ComputerName:      str(r["computer_name"]),
		HardwareModel:     str(r["hardware_model"]),
		Platform:          str(r["platform"]),
		PlatformLike:      str(r["platform_like"]),
		OsqueryIdentifier: str(r["osquery_uuid"]),
	}
	if h.HardwareUUID == "" {
		return HostInfo{}, errors.New("osqueryd returned no hardware uuid")
	}
	if h.OsqueryIdentifier == "" {
		h.OsqueryIdentifier = h.HardwareUUID
	}
	return h, nil
}

func str(v any) string {
	switch t := v.(type) {
	case string:
		return strings.TrimSpace(t)
	case nil:
		return ""
	default:
		return strings.TrimSpace(fmt.Sprint(t))
	}
}

// GoHostInfo is the host as Go sees it, used when osqueryd cannot answer
// (not installed yet, broken, timed out). The hardware UUID comes from the
// platform (DMI product_uuid or machine-id, IOPlatformUUID, MachineGuid);
// as a last resort it is derived from the hostname so it stays stable.
func GoHostInfo() HostInfo {
	h := platformHostInfo()
	if h.Hostname == "" {
		h.Hostname, _ = os.Hostname()
	}
	if h.ComputerName == "" {
		h.ComputerName = h.Hostname
	}
	if h.Platform == "" {
		h.Platform = runtime.GOOS
	}
	if h.HardwareUUID == "" {
		sum := sha256.Sum256([]byte("orbit-host:" + h.Hostname))
		h.HardwareUUID = formatUUID(hex.EncodeToString(sum[:16]))
	}
	h.HardwareUUID = formatUUID(h.HardwareUUID)
	if h.OsqueryIdentifier == "" {
		h.OsqueryIdentifier = h.HardwareUUID
	}
	return h
}

// formatUUID turns 32 hex digits (dashes allowed) into the upper-case
// 8-4-4-4-12 form osquery reports; anything else is returned trimmed.
func formatUUID(s string) string {
	s = strings.TrimSpace(s)
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 {
		return s
	}
	if _, err := hex.DecodeString(h); err != nil {
		return s
	}
	h = strings.ToUpper(h)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func readTrim(path string) string {
	b, err := safefile.ReadLimited(path, safefile.MaxState) // sysfs files claim a page
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
