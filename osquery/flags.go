package osquery

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/orbitagent/orbit/rootdir"
)

// EnrollSecretEnv is the environment variable osqueryd reads its enroll
// secret from (--enroll_secret_env). The secret never goes on argv, where
// any local user could read it from the process table.
const EnrollSecretEnv = "ENROLL_SECRET"

// Standalone mode keeps at most ResultLogMaxFiles rotated result logs of
// ResultLogRotateSize bytes each, so results never fill the disk.
const (
	ResultLogRotateSize = 25 << 20
	ResultLogMaxFiles   = 10
)

// InsecureProxy is orbit's local TLS proxy for --insecure (package
// osquery/tlsproxy): osqueryd cannot skip certificate checks, so it talks
// to the proxy, which it trusts through a certificate made at start.
type InsecureProxy struct {
	// Addr is the proxy's 127.0.0.1:port, osqueryd's --tls_hostname.
	Addr string
	// CertFile is the proxy certificate's PEM, osqueryd's --tls_server_certs.
	CertFile string
}

// FlagOptions are the inputs of osqueryd's command line.
type FlagOptions struct {
	Layout rootdir.Layout
	// FleetURL switches on the TLS plugins pointing at a Fleet server. A
	// path prefix (https://host/fleet) goes before every osquery endpoint.
	FleetURL string
	// CertFile is the CA bundle osqueryd trusts for the Fleet server.
	CertFile string
	// Insecure replaces FleetURL's host and CertFile by orbit's local TLS
	// proxy (--insecure); the proxy adds FleetURL's path prefix itself.
	Insecure *InsecureProxy
	// ConfigPath is standalone mode: a local osquery config with packs,
	// results written to rotated files. Mutually exclusive with FleetURL.
	ConfigPath string
	// ProxyHost is host:port of an HTTPS proxy for osqueryd's TLS calls.
	ProxyHost string
	// HostIdentifier is Fleet's --host-identifier: "uuid" (the default) or
	// "instance" (for cloned VMs that share a hardware UUID).
	HostIdentifier string
	// ExtraArgs come from after `--` on orbit's command line, last so they
	// win: the local administrator may set anything, protected flags too.
	ExtraArgs []string
}

// Validate checks the options without touching the disk, so bad input is
// refused when orbit starts rather than at osqueryd's first start.
func (o FlagOptions) Validate() error {
	if o.Layout.Root == "" {
		return errors.New("osqueryd flags need orbit's root directory")
	}
	if o.FleetURL != "" && o.ConfigPath != "" {
		return errors.New("--fleet-url and --osquery-config are mutually exclusive: pick Fleet or standalone mode")
	}
	switch o.HostIdentifier {
	case "", "uuid", "instance":
	default:
		return fmt.Errorf("--host-identifier %q is not valid: use uuid or instance", o.HostIdentifier)
	}
	if o.Insecure != nil {
		if o.FleetURL == "" {
			return errors.New("the --insecure proxy for osqueryd needs --fleet-url")
		}
		if o.CertFile != "" {
			return errors.New("--insecure and --fleet-certificate are mutually exclusive: pass the certificate and drop --insecure")
		}
		if o.Insecure.Addr == "" || o.Insecure.CertFile == "" {
			return errors.New("the --insecure proxy for osqueryd has no address or certificate: start it before building osqueryd's flags")
		}
	}
	if o.FleetURL != "" {
		if _, _, err := splitFleetURL(o.FleetURL); err != nil {
			return err
		}
	}
	for name, v := range map[string]string{"--fleet-certificate": o.CertFile, "--osquery-config": o.ConfigPath, "--fleet-proxy": o.ProxyHost} {
		if strings.ContainsAny(v, "\n\r\x00") {
			return fmt.Errorf("%s has a line break or NUL: give a plain path or host", name)
		}
	}
	if err := CheckCommandLine(o.ExtraArgs); err != nil {
		return fmt.Errorf("osqueryd arguments after --: %w", err)
	}
	return nil
}

// Flags builds osqueryd's argv (without the program name). Later flags win
// in osquery, so it goes: defaults the server may tune, then
// --flagfile=<root>/osquery.flags (the server's startup flags), then every
// flag orbit manages (ProtectedFlags), then ExtraArgs. It looks at the disk
// (the flagfile and the extension list), so call it before every start.
func Flags(o FlagOptions) ([]string, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	l := o.Layout
	var tunable, managed []string
	managed = append(managed,
		"--pidfile="+l.OsqueryPID(),
		"--database_path="+l.OsqueryDB(),
		"--extensions_socket="+l.ExtensionsSocket(),
		"--logger_path="+l.OsqueryLogDir(),
	)
	hostID := o.HostIdentifier
	if hostID == "" {
		hostID = "uuid"
	}
	switch {
	case o.FleetURL != "":
		host, prefix, _ := splitFleetURL(o.FleetURL) // checked by Validate
		certs := o.CertFile
		if o.Insecure != nil {
			// The proxy puts the prefix back when it forwards.
			host, prefix, certs = o.Insecure.Addr, "", o.Insecure.CertFile
		}
		api := prefix + "/api/v1/osquery"
		tunable = append(tunable,
			"--config_refresh=60",
			"--disable_distributed=false",
			"--distributed_tls_max_attempts=10",
			"--disable_carver=false",
			"--carver_block_size=2000000",
			"--carver_disable_function=false",
		)
		managed = append(managed,
			"--enroll_secret_env="+EnrollSecretEnv,
			"--tls_hostname="+host,
			"--enroll_tls_endpoint="+api+"/enroll",
			"--config_plugin=tls",
			"--config_tls_endpoint="+api+"/config",
			"--distributed_plugin=tls",
			"--distributed_tls_read_endpoint="+api+"/distributed/read",
			"--distributed_tls_write_endpoint="+api+"/distributed/write",
			"--logger_plugin=tls",
			"--logger_tls_endpoint="+api+"/log",
			"--carver_start_endpoint="+api+"/carve/begin",
			"--carver_continue_endpoint="+api+"/carve/block",
		)
		if certs != "" {
			managed = append(managed, "--tls_server_certs="+certs)
		}
		if o.ProxyHost != "" && o.Insecure == nil {
			// With --insecure, orbit's proxy reaches Fleet through --fleet-proxy.
			managed = append(managed, "--proxy_hostname="+o.ProxyHost)
		}
	case o.ConfigPath != "":
		tunable = append(tunable,
			"--logger_rotate=true",
			fmt.Sprintf("--logger_rotate_size=%d", ResultLogRotateSize),
			fmt.Sprintf("--logger_rotate_max_files=%d", ResultLogMaxFiles),
		)
		managed = append(managed,
			"--config_plugin=filesystem",
			"--config_path="+o.ConfigPath,
			"--logger_plugin=filesystem",
		)
	}
	managed = append(managed, "--host_identifier="+hostID)
	// An empty value rather than no flag: without it osqueryd falls back to
	// the list under OSQUERY_HOME (/etc/osquery/extensions.load), which
	// orbit does not control.
	autoload := ""
	if nonEmptyFile(l.ExtensionsAutoload()) {
		autoload = l.ExtensionsAutoload()
	}
	managed = append(managed, "--extensions_autoload="+autoload)

	// Likewise an empty --flagfile keeps osqueryd from reading a stray
	// osquery.flags.default from OSQUERY_HOME.
	flagfile := ""
	if fileExists(l.OsqueryFlags()) {
		flagfile = l.OsqueryFlags()
	}
	args := append(tunable, "--flagfile="+flagfile)
	args = append(args, managed...)
	args = append(args, o.ExtraArgs...)
	return args, nil
}

// TLSHostname turns a Fleet URL into osquery's --tls_hostname (host[:port]).
// osqueryd speaks only TLS, so the URL must be https.
func TLSHostname(fleetURL string) (string, error) {
	host, _, err := splitFleetURL(fleetURL)
	return host, err
}

// splitFleetURL returns --tls_hostname and the path prefix ("" or "/x/y",
// escaped as it goes on the wire) of a Fleet URL.
func splitFleetURL(fleetURL string) (host, prefix string, err error) {
	u, err := url.Parse(fleetURL)
	if err != nil {
		return "", "", fmt.Errorf("--fleet-url %q is not a URL: %w", fleetURL, err)
	}
	switch {
	case u.Scheme != "https":
		return "", "", fmt.Errorf("--fleet-url %q must start with https:// (osqueryd only talks TLS to Fleet)", fleetURL)
	case u.Host == "":
		return "", "", fmt.Errorf("--fleet-url %q has no host: use https://fleet.example.com", fleetURL)
	case u.User != nil:
		return "", "", fmt.Errorf("--fleet-url %q has credentials: they would sit on osqueryd's command line; drop user:pass@", fleetURL)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return "", "", fmt.Errorf("--fleet-url %q has a query or fragment: give https://host[:port][/prefix]", fleetURL)
	case strings.ContainsAny(fleetURL, "\n\r\x00 "):
		return "", "", fmt.Errorf("--fleet-url %q has spaces or control characters", fleetURL)
	}
	return u.Host, strings.TrimRight(u.EscapedPath(), "/"), nil
}

// CheckCommandLine parses argv as gflags would and reports the first flag
// osqueryd does not define or a value it would refuse: osqueryd exits at
// once on either, so orbit refuses them before starting it. Positional
// arguments and everything after "--" are not flags.
func CheckCommandLine(args []string) error {
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			return nil
		}
		if len(arg) < 2 || arg[0] != '-' {
			continue
		}
		body := strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-")
		name, value, hasValue := strings.Cut(body, "=")
		d, ok := LookupFlag(name)
		if !ok {
			if base, isNo := strings.CutPrefix(name, "no"); isNo {
				if bd, known := LookupFlag(base); known && bd.Type == FlagBool {
					continue // --noverbose: gflags sets it false, whatever follows "="
				}
			}
			return fmt.Errorf("osqueryd defines no flag %q", name)
		}
		if !hasValue {
			if d.Type == FlagBool {
				continue
			}
			if i+1 >= len(args) {
				return fmt.Errorf("flag %q is missing its value", name)
			}
			i++
			value = args[i]
		}
		if _, err := d.ParseValue(value); err != nil {
			return err
		}
	}
	return nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func nonEmptyFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Size() > 0
}
