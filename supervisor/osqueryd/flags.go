// Package osqueryd knows how orbit runs osqueryd: the command line it
// builds (flags.go), the stale-process cleanup at start (stale*.go), and
// the process spec the supervisor restarts (runner.go).
package osqueryd

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/orbitagent/orbit/rootdir"
)

// EnrollSecretEnv is the environment variable osqueryd reads its enroll
// secret from (--enroll_secret_env). The secret never goes on argv, where
// any local user could read it from the process table.
const EnrollSecretEnv = "ENROLL_SECRET"

// ProtectedFlags are set after --flagfile so neither the flagfile nor the
// Fleet server's startup flags can move osqueryd's identity or database.
var ProtectedFlags = []string{"host_identifier", "database_path", "extensions_autoload"}

// FlagOptions are the inputs of osqueryd's command line.
type FlagOptions struct {
	Layout rootdir.Layout
	// FleetURL switches on the TLS plugins pointing at a Fleet server.
	FleetURL string
	// CertFile is the CA bundle osqueryd trusts for the Fleet server.
	CertFile string
	// ConfigPath is standalone mode: a local osquery config with packs,
	// results written to the filesystem. Mutually exclusive with FleetURL.
	ConfigPath string
	// ProxyHost is host:port of an HTTPS proxy for osqueryd's TLS calls.
	ProxyHost string
	// ExtraArgs come from after `--` on orbit's command line, last so they win.
	ExtraArgs []string
}

// Validate checks the inputs of the command line.
func (o FlagOptions) Validate() error {
	if err := o.Layout.Validate(); err != nil {
		return err
	}
	if o.FleetURL != "" && o.ConfigPath != "" {
		return errors.New("--fleet-url and --osquery-config are mutually exclusive: Fleet mode gets osquery's config from the server")
	}
	if o.FleetURL != "" {
		if _, err := TLSHostname(o.FleetURL); err != nil {
			return err
		}
	}
	return nil
}

// Flags builds osqueryd's argv (without the program name), in the order
// Fleet's orbit uses, because later flags win in osquery.
func Flags(o FlagOptions) ([]string, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	l := o.Layout
	args := []string{
		"--pidfile=" + l.OsqueryPID(),
		"--database_path=" + l.OsqueryDB(),
		"--extensions_socket=" + l.ExtensionsSocket(),
		"--logger_path=" + l.OsqueryLogDir(),
	}
	switch {
	case o.FleetURL != "":
		host, err := TLSHostname(o.FleetURL)
		if err != nil {
			return nil, err
		}
		args = append(args,
			"--enroll_secret_env", EnrollSecretEnv,
			"--host_identifier=uuid",
			"--tls_hostname="+host,
			"--enroll_tls_endpoint=/api/v1/osquery/enroll",
			"--config_plugin=tls",
			"--config_tls_endpoint=/api/v1/osquery/config",
			"--config_refresh=60",
			"--disable_distributed=false",
			"--distributed_plugin=tls",
			"--distributed_tls_read_endpoint=/api/v1/osquery/distributed/read",
			"--distributed_tls_write_endpoint=/api/v1/osquery/distributed/write",
			"--distributed_tls_max_attempts=10",
			"--logger_plugin=tls,filesystem",
			"--logger_tls_endpoint=/api/v1/osquery/log",
			"--disable_carver=false",
			"--carver_start_endpoint=/api/v1/osquery/carve/begin",
			"--carver_continue_endpoint=/api/v1/osquery/carve/block",
			"--carver_block_size=2000000",
		)
		if o.CertFile != "" {
			args = append(args, "--tls_server_certs="+o.CertFile)
		}
		if o.ProxyHost != "" {
			args = append(args, "--proxy_hostname="+o.ProxyHost)
		}
	case o.ConfigPath != "":
		args = append(args,
			"--config_plugin=filesystem",
			"--config_path="+o.ConfigPath,
			"--logger_plugin=filesystem",
		)
	}
	args = append(args,
		"--flagfile="+l.OsqueryFlags(),
		"--host_identifier=uuid",
		"--database_path="+l.OsqueryDB(),
		"--extensions_autoload="+l.ExtensionsAutoload(),
	)
	return append(args, o.ExtraArgs...), nil
}

// TLSHostname turns a Fleet URL into osquery's --tls_hostname (host[:port]).
// osqueryd speaks only TLS, so the URL must be https.
func TLSHostname(fleetURL string) (string, error) {
	u, err := url.Parse(fleetURL)
	if err != nil {
		return "", fmt.Errorf("--fleet-url %q is not a URL: %w", fleetURL, err)
	}
	if u.Scheme != "https" {
		return "", fmt.Errorf("--fleet-url %q must start with https:// (osqueryd only talks TLS to Fleet)", fleetURL)
	}
	if u.Host == "" {
		return "", fmt.Errorf("--fleet-url %q has no host: use https://fleet.example.com", fleetURL)
	}
	if p := strings.TrimRight(u.Path, "/"); p != "" {
		return "", fmt.Errorf("--fleet-url %q has a path; osquery endpoints live at the server root, give only https://host[:port]", fleetURL)
	}
	return u.Host, nil
}

// ServerManagedFlags are the flags orbit sets on osqueryd's command line
// itself; neither the Fleet server's startup flags nor the flagfile may
// set them (a flagfile could also pull in another flagfile).
var ServerManagedFlags = append([]string{"pidfile", "extensions_socket", "enroll_secret_env", "flagfile"}, ProtectedFlags...)

// CheckServerFlag reports whether a flag (name without dashes) may come
// from the Fleet server's command_line_startup_flags.
func CheckServerFlag(name string) error {
	n := strings.ToLower(name)
	for _, p := range ServerManagedFlags {
		if n == p {
			return fmt.Errorf("flag %q is managed by orbit and cannot be overridden", name)
		}
	}
	return nil
}
