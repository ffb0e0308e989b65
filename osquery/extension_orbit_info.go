package osquery

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/osquery/osquery-go/plugin/table"

	"github.com/orbitagent/orbit/clock"
)

// OrbitInfo is one row of orbit_info, as the agent knows it.
type OrbitInfo struct {
	Version           string
	DeviceAuthToken   string
	Enrolled          bool
	LastRecordedError string
	OrbitChannel      string
	OsquerydChannel   string
	DesktopChannel    string
	DesktopVersion    string
	ScriptsEnabled    bool
	UpdateURL         string
	// StartedAt is when orbit started; uptime is counted from it.
	StartedAt time.Time
}

// InfoSource is what orbit_info reads on every query; the agent implements
// it. It must be quick: osqueryd waits for the answer.
type InfoSource interface {
	OrbitInfo(ctx context.Context) (OrbitInfo, error)
}

// orbitInfoColumns are Fleet's orbit_info columns, names and types as in
// fleetdm/fleet orbit/pkg/table/orbit_info.
var orbitInfoColumns = []table.ColumnDefinition{
	table.TextColumn("version"),
	table.TextColumn("device_auth_token"),
	table.TextColumn("enrolled"),
	table.TextColumn("last_recorded_error"),
	table.TextColumn("orbit_channel"),
	table.TextColumn("osqueryd_channel"),
	table.TextColumn("desktop_channel"),
	table.TextColumn("desktop_version"),
	table.BigIntColumn("uptime"),
	table.IntegerColumn("scripts_enabled"),
	table.TextColumn("update_url"),
}

// OrbitInfoTable is the orbit_info table: one row from src, with uptime in
// whole seconds since StartedAt by clk (nil: the real clock).
func OrbitInfoTable(src InfoSource, clk clock.Clock) *table.Plugin {
	if clk == nil {
		clk = clock.Real()
	}
	return table.NewPlugin("orbit_info", orbitInfoColumns, func(ctx context.Context, _ table.QueryContext) ([]map[string]string, error) {
		if src == nil {
			return nil, errors.New("orbit_info has no source")
		}
		in, err := src.OrbitInfo(ctx)
		if err != nil {
			return nil, err
		}
		version := in.Version
		if version == "" {
			version = "unknown" // as Fleet's agent reports an unset build version
		}
		uptime := int64(0)
		if !in.StartedAt.IsZero() {
			uptime = max(int64(clk.Now().Sub(in.StartedAt)/time.Second), 0)
		}
		return []map[string]string{{
			"version":             version,
			"device_auth_token":   in.DeviceAuthToken,
			"enrolled":            strconv.FormatBool(in.Enrolled),
			"last_recorded_error": in.LastRecordedError,
			"orbit_channel":       in.OrbitChannel,
			"osqueryd_channel":    in.OsquerydChannel,
			"desktop_channel":     in.DesktopChannel,
			"desktop_version":     in.DesktopVersion,
			"uptime":              strconv.FormatInt(uptime, 10),
			"scripts_enabled":     boolInt(in.ScriptsEnabled),
			"update_url":          in.UpdateURL,
		}}, nil
	})
}

func boolInt(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
