package osquery

import "sort"

// ProtectedFlag is an osqueryd flag that orbit manages: the Fleet server's
// command_line_startup_flags may not set it (nor any alias of it), and the
// command line builder puts the ones it sets after --flagfile, so a
// flagfile cannot override them either (later flags win in gflags).
type ProtectedFlag struct {
	Name string
	// Reason says why orbit keeps it; it ends up in the log line that
	// names a refused server flag.
	Reason string
}

// The rule: what decides where osqueryd talks, what it trusts, where it
// writes, which identity it has, or orbit's own link to it (the extension
// socket, the process orbit supervises) is orbit's. Intervals, events,
// tables, watchdog limits and verbosity stay the server's.
var protectedFlags = []ProtectedFlag{
	// Where osqueryd talks and what it trusts.
	{"tls_hostname", "where osqueryd sends everything: orbit derives it from --fleet-url (or its --insecure proxy)"},
	{"tls_server_certs", "the CAs osqueryd trusts for Fleet: orbit sets it from --fleet-certificate (or its --insecure proxy)"},
	{"tls_allow_unsafe", "would let osqueryd accept any server certificate"},
	{"tls_client_cert", "the identity osqueryd presents to Fleet: a local setting, not the server's"},
	{"tls_client_key", "the key of the identity osqueryd presents to Fleet: a local setting, not the server's"},
	{"proxy_hostname", "the proxy osqueryd talks through: orbit sets it from --fleet-proxy"},
	{"enroll_tls_endpoint", "an osquery endpoint: orbit derives it from --fleet-url (path prefix included)"},
	{"config_tls_endpoint", "an osquery endpoint: orbit derives it from --fleet-url (path prefix included)"},
	{"distributed_tls_read_endpoint", "an osquery endpoint: orbit derives it from --fleet-url (path prefix included)"},
	{"distributed_tls_write_endpoint", "an osquery endpoint: orbit derives it from --fleet-url (path prefix included)"},
	{"logger_tls_endpoint", "an osquery endpoint: orbit derives it from --fleet-url (path prefix included)"},
	{"carver_start_endpoint", "an osquery endpoint: orbit derives it from --fleet-url (path prefix included)"},
	{"carver_continue_endpoint", "an osquery endpoint: orbit derives it from --fleet-url (path prefix included)"},
	{"config_plugin", "decides where osqueryd takes its config from (tls: Fleet, filesystem: --osquery-config)"},
	{"distributed_plugin", "decides where osqueryd takes live queries from"},
	{"logger_plugin", "decides where query results and status logs go (tls to Fleet, or files in standalone mode)"},
	{"config_path", "a file osqueryd (root) would read as its config: orbit sets it from --osquery-config"},
	{"enroll_secret_env", "how the enroll secret reaches osqueryd: orbit passes it in this environment variable only"},
	{"enroll_secret_path", "osqueryd would send that file's content to the server as its enroll secret"},
	{"tls_dump", "prints every TLS request and answer (enroll secret, node key) into the output orbit logs"},

	// Where osqueryd writes, as root.
	{"logger_path", "where osqueryd (root) writes its logs: orbit keeps them under its root directory"},
	{"logger_mode", "the mode of osqueryd's result logs: who may read query results"},
	{"log_dir", "where glog in osqueryd (root) writes its log files"},
	{"log_link", "where glog in osqueryd (root) creates links to its log files"},
	{"logfile_mode", "the mode of glog's log files: who may read them"},
	{"syslog_pipe_path", "where osqueryd (root) creates its syslog FIFO"},
	{"numeric_monitoring_filesystem_path", "where osqueryd (root) writes numeric monitoring logs"},

	// Identity and state.
	{"host_identifier", "the identity Fleet matches the host by: orbit sets it from --host-identifier"},
	{"database_path", "holds the host UUID and node key; orbit reads the same database for its own enroll facts"},
	{"disable_database", "without its database osqueryd invents a new host UUID at every start"},
	{"pidfile", "orbit finds and cleans up a stale osqueryd through it"},
	{"ephemeral", "skips the pidfile and database state orbit relies on"},

	// Orbit's own link to osqueryd.
	{"extensions_socket", "orbit's extension socket: health checks and orbit's tables go through it"},
	{"extensions_autoload", "lists programs osqueryd (root) starts: orbit writes it from verified extensions only"},
	{"extensions_require", "osqueryd would refuse to start without the named extensions"},
	{"extensions_timeout", "how long osqueryd waits for extensions: part of orbit's link to it"},
	{"extensions_interval", "how often osqueryd checks its extensions and drops silent ones: part of orbit's link to it"},
	{"disable_extensions", "would cut orbit's extension socket (health checks, orbit_info)"},
	{"daemonize", "osqueryd would leave the process orbit supervises"},
	{"install", "makes osqueryd install itself as a Windows service and exit"},
	{"uninstall", "makes osqueryd remove its Windows service and exit"},
	{"config_check", "makes osqueryd check its config and exit at every start"},
	{"config_dump", "makes osqueryd print its config into orbit's log and exit at every start"},
	{"database_dump", "makes osqueryd print its database (node key included) into orbit's log and exit at every start"},

	// gflags' own flags.
	{"flagfile", "orbit writes the one flagfile osqueryd reads; another would bypass these checks"},
	{"fromenv", "would read flags from FLAGS_* environment variables, bypassing these checks"},
	{"tryfromenv", "would read flags from FLAGS_* environment variables, bypassing these checks"},
	{"undefok", "would hide unknown flags from osqueryd's own checks"},
	{"help", "makes osqueryd print its usage and exit at every start"},
	{"helpfull", "makes osqueryd print its usage and exit at every start"},
	{"helpshort", "makes osqueryd print its usage and exit at every start"},
	{"helppackage", "makes osqueryd print its usage and exit at every start"},
	{"helpxml", "makes osqueryd print its usage and exit at every start"},
	{"helpon", "makes osqueryd print its usage and exit at every start"},
	{"helpmatch", "makes osqueryd print its usage and exit at every start"},
	{"version", "makes osqueryd print its version and exit at every start"},
	{"tab_completion_word", "makes osqueryd print shell completions and exit at every start"},
}

var protectedByName = func() map[string]string {
	m := make(map[string]string, len(protectedFlags))
	for _, p := range protectedFlags {
		m[p.Name] = p.Reason
	}
	return m
}()

// ProtectedFlags returns the flags orbit manages, sorted by name.
func ProtectedFlags() []ProtectedFlag {
	out := append([]ProtectedFlag(nil), protectedFlags...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// IsProtected reports whether name (or the flag it is an alias of) is
// managed by orbit, and why.
func IsProtected(name string) (reason string, ok bool) {
	if d, known := LookupFlag(name); known {
		name = d.Name
	}
	reason, ok = protectedByName[name]
	return reason, ok
}
