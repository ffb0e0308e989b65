package main

import "github.com/orbitagent/orbit/osquery"

// knownFlags is every flag osqueryd defines, with its gflags type, from
// orbit's table (osquery/flagdefs.tsv, parsed by package osquery). The
// stand-in imports that table rather than reading the TSV itself: one
// parser and one set of value rules (gflags' ParseFrom) serve both orbit,
// which filters the server's flags, and the stand-in, which refuses what
// osqueryd refuses; a second parser could drift from the first. The
// defaults below are the stand-in's own (the TSV has no defaults).
var knownFlags = func() map[string]flagDef {
	m := map[string]flagDef{}
	for _, d := range osquery.AllFlags() {
		def, ok := flagDefaults[d.Name]
		if !ok {
			def = zeroValue(d.Type)
		}
		m[d.Name] = flagDef{kind: d.Type, def: def}
	}
	return m
}()

func zeroValue(t osquery.FlagType) string {
	switch t {
	case osquery.FlagBool:
		return "false"
	case osquery.FlagString:
		return ""
	default:
		return "0"
	}
}

// flagDefaults are osquery's defaults that the stand-in's behaviour or its
// osquery_flags table depend on; every other flag defaults to its type's
// zero value.
var flagDefaults = map[string]string{
	"header":                        "true",
	"separator":                     "|",
	"pack_delimiter":                "_",
	"host_identifier":               "hostname",
	"config_plugin":                 "filesystem",
	"logger_plugin":                 "filesystem",
	"distributed_plugin":            "tls",
	"config_path":                   "/etc/osquery/osquery.conf",
	"logger_path":                   "/var/log/osquery/",
	"logger_mode":                   "0640",
	"database_path":                 "/var/osquery/osquery.db",
	"pidfile":                       "/var/osquery/osqueryd.pidfile",
	"extensions_socket":             "/var/osquery/osquery.em",
	"extensions_timeout":            "3",
	"extensions_interval":           "3",
	"disable_distributed":           "true",
	"disable_carver":                "true",
	"disable_events":                "true",
	"disable_audit":                 "true",
	"distributed_interval":          "60",
	"config_tls_max_attempts":       "3",
	"distributed_tls_max_attempts":  "3",
	"tls_enroll_max_attempts":       "12",
	"tls_enroll_max_interval":       "600",
	"logger_tls_period":             "4",
	"logger_tls_max_lines":          "1024",
	"logger_tls_max_linesize":       "1048576",
	"schedule_splay_percent":        "10",
	"schedule_default_interval":     "3600",
	"distributed_denylist_duration": "86400",
	"logger_rotate_size":            "26214400",
	"logger_rotate_max_files":       "25",
	"thrift_timeout":                "300",
	"carver_block_size":             "8192",
	"tls_session_timeout":           "3600",
}
