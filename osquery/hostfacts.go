package osquery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/orbitagent/orbit/internal/capped"
)

// HostFacts are what osquery says about the host, for orbit's enroll.
type HostFacts struct {
	HardwareUUID   string // system_info.uuid: the host UUID osquery keeps in its database
	HardwareSerial string
	Hostname       string
	ComputerName   string
	HardwareModel  string
	Platform       string // os_version.platform: ubuntu, darwin, windows...
	PlatformLike   string
	// OsqueryUUID is osquery_info.uuid, the identifier osqueryd enrolls
	// with under --host_identifier=uuid.
	OsqueryUUID string
	// InstanceID is osquery_info.instance_id, its identifier under
	// --host_identifier=instance.
	InstanceID string
}

// hostFactsQuery reads the enroll facts in one query, as Fleet's agent
// does.
const hostFactsQuery = "SELECT si.uuid, si.hardware_serial, si.hostname, si.computer_name, si.hardware_model, " +
	"os.platform, os.platform_like, oi.uuid AS osquery_uuid, oi.instance_id FROM system_info si, os_version os, osquery_info oi"

// DefaultHostFactsTimeout bounds one collection of the host facts.
const DefaultHostFactsTimeout = 30 * time.Second

// maxShellOutput bounds what is read from `osqueryd -S`.
const maxShellOutput = 1 << 20

// ErrNotInstalled is HostFactsReader's error while osqueryd is not
// installed yet.
var ErrNotInstalled = errors.New("osqueryd is not installed yet")

// HostFactsReader reads the host facts from the osqueryd orbit runs, so
// that the UUID orbit enrolls with is the one osqueryd reports: osquery
// keeps its host UUID in its database (a random one when the hardware has
// none), so the facts must come from that database. While the daemon runs,
// it holds the database and answers on its extension socket; before its
// first start, `osqueryd -S` opens the same database.
type HostFactsReader struct {
	// Client reaches the running daemon's extension socket.
	Client *Client
	// Path returns the osqueryd to run; an error means it is not
	// installed yet.
	Path func() (string, error)
	// DatabasePath is the daemon's --database_path.
	DatabasePath string
	// Timeout bounds each collection (default 30 s).
	Timeout time.Duration
}

// HostFacts asks the running daemon, or runs osqueryd on its database when
// none answers. A daemon that starts meanwhile holds the database, and the
// shell run fails on its lock: the daemon is asked again then.
func (r *HostFactsReader) HostFacts(ctx context.Context) (HostFacts, error) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultHostFactsTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if r.Client != nil && r.Client.Ping(ctx) == nil {
		return HostFactsFromDaemon(ctx, r.Client)
	}
	path, err := r.Path()
	if err != nil {
		return HostFacts{}, fmt.Errorf("%w: %v", ErrNotInstalled, err)
	}
	f, err := HostFactsFromShell(ctx, path, r.DatabasePath)
	if err != nil && r.Client != nil {
		if df, derr := HostFactsFromDaemon(ctx, r.Client); derr == nil {
			return df, nil
		}
	}
	return f, err
}

// HostFactsFromDaemon queries the running osqueryd through its socket.
func HostFactsFromDaemon(ctx context.Context, c *Client) (HostFacts, error) {
	rows, err := c.Query(ctx, hostFactsQuery)
	if err != nil {
		return HostFacts{}, fmt.Errorf("query osqueryd for host facts: %w", err)
	}
	anyRows := make([]map[string]any, len(rows))
	for i, r := range rows {
		anyRows[i] = map[string]any{}
		for k, v := range r {
			anyRows[i][k] = v
		}
	}
	return hostFactsOf(anyRows)
}

// HostFactsFromShell runs `<osqueryd> -S --database_path=<db> --json
// <query>`, which fails (on its lock) while a daemon uses that database.
func HostFactsFromShell(ctx context.Context, osquerydPath, databasePath string) (HostFacts, error) {
	if osquerydPath == "" {
		return HostFacts{}, errors.New("no osqueryd path")
	}
	if databasePath == "" {
		return HostFacts{}, errors.New("no osquery database path: the facts must come from the daemon's database")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultHostFactsTimeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, osquerydPath, "-S", "--database_path="+databasePath, "--json", hostFactsQuery)
	cmd.WaitDelay = time.Second          // do not hang on a child that keeps stdout open
	cmd.Env = ChildEnv(os.Environ(), "") // no enroll secret for a query
	stdout := capped.Buffer{Max: maxShellOutput}
	cmd.Stdout = &stdout
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return HostFacts{}, fmt.Errorf("osqueryd host facts query did not finish in time: %w", ctx.Err())
		}
		return HostFacts{}, fmt.Errorf("run osqueryd to read host facts: %w", err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &rows); err != nil {
		return HostFacts{}, fmt.Errorf("parse osqueryd host facts: %w", err)
	}
	return hostFactsOf(rows)
}

func hostFactsOf(rows []map[string]any) (HostFacts, error) {
	if len(rows) == 0 {
		return HostFacts{}, errors.New("osqueryd returned no host facts")
	}
	r := rows[0]
	h := HostFacts{
		HardwareUUID:   str(r["uuid"]),
		HardwareSerial: str(r["hardware_serial"]),
		Hostname:       str(r["hostname"]),
		ComputerName:   str(r["computer_name"]),
		HardwareModel:  str(r["hardware_model"]),
		Platform:       str(r["platform"]),
		PlatformLike:   str(r["platform_like"]),
		OsqueryUUID:    str(r["osquery_uuid"]),
		InstanceID:     str(r["instance_id"]),
	}
	if h.HardwareUUID == "" {
		return HostFacts{}, errors.New("osqueryd returned no hardware uuid")
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
