package main

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// queryEnv is what the tables read: the host, this process and its flags.
type queryEnv struct {
	host      func() hostInfo
	flags     *flagSet
	version   string
	pid       int
	id        *identity
	startTime time.Time
	now       func() time.Time
	// configHash/configValid describe the loaded config (osquery_info).
	mu          sync.Mutex
	configHash  string
	configValid bool
	// ext is the extension manager (daemon only): its tables join the
	// core ones, and osquery_info.extensions reports whether it is up.
	ext *extManager
}

// lookupTable finds a core table, then a table an extension registered.
func (e *queryEnv) lookupTable(name string) (*table, bool) {
	if t, ok := tables[strings.ToLower(name)]; ok {
		return t, true
	}
	if e.ext != nil {
		return e.ext.table(name)
	}
	return nil, false
}

func (e *queryEnv) setConfig(hash string, valid bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.configHash, e.configValid = hash, valid
}

func (e *queryEnv) config() (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.configHash, e.configValid
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func boolInt(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// tables is the stand-in's schema; columns are in osquery's order.
var tables = map[string]*table{
	"system_info": {
		columns: []string{"hostname", "uuid", "cpu_type", "cpu_subtype", "cpu_brand",
			"cpu_physical_cores", "cpu_logical_cores", "cpu_sockets", "cpu_microcode",
			"physical_memory", "hardware_vendor", "hardware_model", "hardware_version",
			"hardware_serial", "board_vendor", "board_model", "board_version", "board_serial",
			"computer_name", "local_hostname"},
		rows: func(env *queryEnv) []map[string]string {
			h := env.host()
			cores := itoa(int64(runtime.NumCPU()))
			return []map[string]string{{
				"hostname": h.Hostname, "uuid": env.id.hostUUID(), "cpu_type": h.CPUType, "cpu_subtype": h.CPUType,
				"cpu_brand": h.CPUBrand, "cpu_physical_cores": cores, "cpu_logical_cores": cores,
				"cpu_sockets": "1", "cpu_microcode": "", "physical_memory": h.PhysicalMemory,
				"hardware_vendor": h.HardwareVendor, "hardware_model": h.HardwareModel,
				"hardware_version": h.HardwareVersion, "hardware_serial": h.HardwareSerial,
				"board_vendor": h.BoardVendor, "board_model": h.BoardModel,
				"board_version": h.BoardVersion, "board_serial": h.BoardSerial,
				"computer_name": h.ComputerName, "local_hostname": h.Hostname,
			}}
		},
	},
	"os_version": {
		columns: []string{"name", "version", "major", "minor", "patch", "build", "platform",
			"platform_like", "codename", "arch", "install_date", "pid_with_namespace", "mount_namespace_id"},
		rows: func(env *queryEnv) []map[string]string {
			h := env.host()
			return []map[string]string{{
				"name": h.OSName, "version": h.OSVersion, "major": h.OSMajor, "minor": h.OSMinor,
				"patch": h.OSPatch, "build": h.OSBuild, "platform": h.OSPlatform,
				"platform_like": h.OSPlatformLike, "codename": h.OSCodename, "arch": osArch(),
				"install_date": "", "pid_with_namespace": "0", "mount_namespace_id": "",
			}}
		},
	},
	"osquery_info": {
		columns: []string{"pid", "uuid", "instance_id", "version", "config_hash", "config_valid",
			"extensions", "build_platform", "build_distro", "start_time", "watcher", "platform_mask"},
		rows: func(env *queryEnv) []map[string]string {
			hash, valid := env.config()
			ext := "inactive"
			if env.ext.active() {
				ext = "active"
			}
			return []map[string]string{{
				"pid": itoa(int64(env.pid)), "uuid": env.id.hostUUID(), "instance_id": env.id.instanceID(),
				"version": env.version, "config_hash": hash, "config_valid": boolInt(valid),
				"extensions": ext, "build_platform": runtime.GOOS, "build_distro": "standin",
				"start_time": itoa(env.startTime.Unix()), "watcher": "-1", "platform_mask": platformMask(),
			}}
		},
	},
	"osquery_extensions": {
		columns: []string{"uuid", "name", "version", "sdk_version", "path", "type"},
		types:   []string{"BIGINT"},
		rows:    func(env *queryEnv) []map[string]string { return env.ext.extensionRows(env) },
	},
	"osquery_flags": {
		columns: []string{"name", "type", "description", "default_value", "value", "shell_only"},
		rows: func(env *queryEnv) []map[string]string {
			var rows []map[string]string
			for _, n := range sortedNames() {
				d := knownFlags[n]
				rows = append(rows, map[string]string{
					"name": n, "type": d.kind.String(), "description": "", "default_value": d.def,
					"value": env.flags.String(n), "shell_only": "0",
				})
			}
			return rows
		},
	},
	"time": {
		columns: []string{"weekday", "year", "month", "day", "hour", "minutes", "seconds",
			"timezone", "local_timezone", "unix_time", "timestamp", "datetime", "iso_8601"},
		rows: func(env *queryEnv) []map[string]string {
			t := env.now().UTC()
			return []map[string]string{{
				"weekday": t.Weekday().String(), "year": itoa(int64(t.Year())),
				"month": itoa(int64(t.Month())), "day": itoa(int64(t.Day())),
				"hour": itoa(int64(t.Hour())), "minutes": itoa(int64(t.Minute())),
				"seconds": itoa(int64(t.Second())), "timezone": "UTC", "local_timezone": "UTC",
				"unix_time": itoa(t.Unix()), "timestamp": t.Format("Mon Jan _2 15:04:05 2006 UTC"),
				"datetime": t.Format("2006-01-02T15:04:05Z"), "iso_8601": t.Format("2006-01-02T15:04:05Z"),
			}}
		},
	},
	"uptime": {
		columns: []string{"days", "hours", "minutes", "seconds", "total_seconds"},
		rows: func(env *queryEnv) []map[string]string {
			s := int64(env.now().Sub(processBoot()).Seconds())
			return []map[string]string{{
				"days": itoa(s / 86400), "hours": itoa(s % 86400 / 3600), "minutes": itoa(s % 3600 / 60),
				"seconds": itoa(s % 60), "total_seconds": itoa(s),
			}}
		},
	},
}

// processBoot approximates boot time for the uptime table; the stand-in only
// needs a value that grows.
var processBoot = sync.OnceValue(func() time.Time {
	if b, err := os.ReadFile("/proc/uptime"); err == nil {
		var secs float64
		if f, err := strconv.ParseFloat(string(b[:indexSpace(b)]), 64); err == nil {
			secs = f
		}
		return time.Now().Add(-time.Duration(secs * float64(time.Second)))
	}
	return time.Now()
})

func indexSpace(b []byte) int {
	for i, c := range b {
		if c == ' ' || c == '\n' {
			return i
		}
	}
	return len(b)
}
