package osquery

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/orbitagent/orbit/internal/golden"
	"github.com/orbitagent/orbit/rootdir"
)

// TestBuilderFlagsAreKnown checks every flag the command line builder puts
// on osqueryd's argv, in each mode: each is in the table, with a value of
// its type.
func TestBuilderFlagsAreKnown(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	l := rootdir.Layout{Root: root}
	// Both files present, so --flagfile and --extensions_autoload carry paths.
	for name, content := range map[string]string{"osquery.flags": "", "extensions.load": "/x/hello.ext\n"} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		opts FlagOptions
	}{
		{"fleet", FlagOptions{Layout: l, FleetURL: "https://fleet.example.com:8443/prefix",
			CertFile: "/etc/fleet.pem", ProxyHost: "proxy:3128", HostIdentifier: "instance"}},
		{"fleet through the insecure proxy", FlagOptions{Layout: l, FleetURL: "https://fleet.example.com",
			Insecure: &InsecureProxy{Addr: "127.0.0.1:4321", CertFile: "/opt/orbit/insecure-proxy.pem"}}},
		{"standalone", FlagOptions{Layout: l, ConfigPath: "/etc/osquery/osquery.conf"}},
		{"plain", FlagOptions{Layout: l}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args, err := Flags(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckCommandLine(args); err != nil {
				t.Fatalf("argv %q: %v", args, err)
			}
			if n := countFlags(t, args); n < 7 {
				t.Fatalf("only %d flags checked in %q", n, args)
			}
		})
	}
}

// countFlags walks argv as CheckCommandLine does and checks each flag
// itself, so the test above does not only trust CheckCommandLine.
func countFlags(t *testing.T, args []string) int {
	t.Helper()
	n := 0
	for i := 0; i < len(args); i++ {
		name, value, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		d, ok := LookupFlag(name)
		if !ok {
			t.Fatalf("%q is not in the table", args[i])
		}
		if !hasValue && d.Type != FlagBool {
			i++
			value = args[i]
		}
		if !hasValue && d.Type == FlagBool {
			value = "true"
		}
		if _, err := d.ParseValue(value); err != nil {
			t.Fatalf("%q: %v", args[i], err)
		}
		n++
	}
	return n
}

func TestCheckCommandLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string // "" means accepted
	}{
		{[]string{"--verbose", "--distributed_interval=7", "-config_refresh", "9", "--enroll_secret_env", "X"}, ""},
		{[]string{"--noverbose", "--noverbose=anything", "positional", "--", "--not_a_flag"}, ""},
		{[]string{"--db_path=/x"}, ""},
		{[]string{"--no_such_flag=1"}, `no flag "no_such_flag"`},
		{[]string{"--distributed_interval=60.0"}, "uint64"},
		{[]string{"--verbose=maybe"}, "bool"},
		{[]string{"--pidfile"}, "missing its value"},
		{[]string{"--nopidfile"}, `no flag "nopidfile"`},
	} {
		err := CheckCommandLine(tc.args)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("CheckCommandLine(%q) = %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	l := rootdir.Layout{Root: root}
	p := func(name string) string { return filepath.Join(root, name) }
	socket := l.ExtensionsSocket()
	base := []string{"--pidfile=" + p("osquery.pid"), "--database_path=" + p("osquery.db"),
		"--extensions_socket=" + socket, "--logger_path=" + p("osquery_log")}
	fleetTunable := []string{"--config_refresh=60", "--disable_distributed=false", "--distributed_tls_max_attempts=10",
		"--disable_carver=false", "--carver_block_size=2000000", "--carver_disable_function=false"}
	fleet := func(host, api string) []string {
		return []string{"--enroll_secret_env=ENROLL_SECRET", "--tls_hostname=" + host,
			"--enroll_tls_endpoint=" + api + "/enroll", "--config_plugin=tls", "--config_tls_endpoint=" + api + "/config",
			"--distributed_plugin=tls", "--distributed_tls_read_endpoint=" + api + "/distributed/read",
			"--distributed_tls_write_endpoint=" + api + "/distributed/write", "--logger_plugin=tls",
			"--logger_tls_endpoint=" + api + "/log", "--carver_start_endpoint=" + api + "/carve/begin",
			"--carver_continue_endpoint=" + api + "/carve/block"}
	}
	tail := func(hostID, autoload string) []string {
		return []string{"--host_identifier=" + hostID, "--extensions_autoload=" + autoload}
	}
	cat := func(parts ...[]string) []string { return slices.Concat(parts...) }
	const api = "/api/v1/osquery"
	for _, tc := range []struct {
		name  string
		opts  FlagOptions
		files map[string]string // created in root before building
		want  []string
	}{
		{"plain, no files yet", FlagOptions{Layout: l}, nil,
			cat([]string{"--flagfile="}, base, tail("uuid", ""))},
		{"fleet", FlagOptions{Layout: l, FleetURL: "https://fleet.example.com:8443"},
			map[string]string{"osquery.flags": "--verbose=true\n", "extensions.load": ""},
			cat(fleetTunable, []string{"--flagfile=" + p("osquery.flags")}, base, fleet("fleet.example.com:8443", api), tail("uuid", ""))},
		{"fleet with a path prefix, CA, proxy, instance identifier, extensions and extra args",
			FlagOptions{Layout: l, FleetURL: "https://fleet.example.com/tenant/a/", CertFile: "/etc/fleet.pem",
				ProxyHost: "proxy:3128", HostIdentifier: "instance", ExtraArgs: []string{"--verbose", "--config_refresh=10"}},
			map[string]string{"extensions.load": "/opt/orbit/bin/extensions/hello.ext\n"},
			cat(fleetTunable, []string{"--flagfile="}, base, fleet("fleet.example.com", "/tenant/a"+api),
				[]string{"--tls_server_certs=/etc/fleet.pem", "--proxy_hostname=proxy:3128"},
				tail("instance", p("extensions.load")), []string{"--verbose", "--config_refresh=10"})},
		{"fleet through the insecure proxy", FlagOptions{Layout: l, FleetURL: "https://fleet.example.com/tenant",
			ProxyHost: "proxy:3128", Insecure: &InsecureProxy{Addr: "127.0.0.1:4321", CertFile: p("proxy.pem")}}, nil,
			// The proxy adds the prefix and goes through --fleet-proxy itself.
			cat(fleetTunable, []string{"--flagfile="}, base, fleet("127.0.0.1:4321", api),
				[]string{"--tls_server_certs=" + p("proxy.pem")}, tail("uuid", ""))},
		{"standalone", FlagOptions{Layout: l, ConfigPath: "/etc/osquery/osquery.conf"}, nil,
			cat([]string{"--logger_rotate=true", "--logger_rotate_size=26214400", "--logger_rotate_max_files=10", "--flagfile="}, base,
				[]string{"--config_plugin=filesystem", "--config_path=/etc/osquery/osquery.conf", "--logger_plugin=filesystem"}, tail("uuid", ""))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Not parallel: the cases share the root's files.
			for _, f := range []string{"osquery.flags", "extensions.load"} {
				os.Remove(p(f))
			}
			for name, content := range tc.files {
				if err := os.WriteFile(p(name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := Flags(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("argv\n got %q\nwant %q", got, tc.want)
			}
			if err := CheckCommandLine(got); err != nil {
				t.Fatalf("osqueryd would refuse its argv: %v", err)
			}
			checkProtectedAfterFlagfile(t, got, len(tc.opts.ExtraArgs))
		})
	}
}

// checkProtectedAfterFlagfile: nothing before --flagfile is a flag orbit
// manages (the flagfile could override it), and every flag set after it is.
func checkProtectedAfterFlagfile(t *testing.T, args []string, extra int) {
	t.Helper()
	i := slices.IndexFunc(args, func(a string) bool { return strings.HasPrefix(a, "--flagfile=") })
	if i < 0 {
		t.Fatalf("no --flagfile in %q", args)
	}
	name := func(a string) string { n, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); return n }
	for _, a := range args[:i] {
		if r, p := IsProtected(name(a)); p {
			t.Errorf("%s comes before --flagfile but orbit manages it (%s)", a, r)
		}
	}
	for _, a := range args[i+1 : len(args)-extra] {
		if _, p := IsProtected(name(a)); !p {
			t.Errorf("%s comes after --flagfile but is not in ProtectedFlags", a)
		}
	}
}

func TestFlagOptionsValidate(t *testing.T) {
	t.Parallel()
	l := rootdir.Layout{Root: "/opt/orbit"}
	proxy := &InsecureProxy{Addr: "127.0.0.1:1", CertFile: "/x.pem"}
	for _, tc := range []struct {
		name, want string
		opts       FlagOptions
	}{
		{"no root", "root directory", FlagOptions{}},
		{"fleet and standalone", "mutually exclusive", FlagOptions{Layout: l, FleetURL: "https://f", ConfigPath: "/c"}},
		{"plain http", "must start with https://", FlagOptions{Layout: l, FleetURL: "http://fleet.example.com"}},
		{"no host", "has no host", FlagOptions{Layout: l, FleetURL: "https://"}},
		{"credentials", "has credentials", FlagOptions{Layout: l, FleetURL: "https://u:p@fleet.example.com"}},
		{"query", "query or fragment", FlagOptions{Layout: l, FleetURL: "https://fleet.example.com/?x=1"}},
		{"fragment", "query or fragment", FlagOptions{Layout: l, FleetURL: "https://fleet.example.com/#x"}},
		{"space in path", "spaces or control", FlagOptions{Layout: l, FleetURL: "https://fleet.example.com/a b"}},
		{"bad host identifier", "--host-identifier", FlagOptions{Layout: l, HostIdentifier: "hostname"}},
		{"insecure without fleet", "needs --fleet-url", FlagOptions{Layout: l, Insecure: proxy}},
		{"insecure and certificate", "mutually exclusive", FlagOptions{Layout: l, FleetURL: "https://f", CertFile: "/c.pem", Insecure: proxy}},
		{"insecure proxy not started", "no address", FlagOptions{Layout: l, FleetURL: "https://f", Insecure: &InsecureProxy{}}},
		{"newline in a path", "line break", FlagOptions{Layout: l, ConfigPath: "/etc/x\n--tls_hostname=evil"}},
		{"unknown extra flag", "after --", FlagOptions{Layout: l, ExtraArgs: []string{"--no_such_flag"}}},
		{"ill-typed extra flag", "after --", FlagOptions{Layout: l, ExtraArgs: []string{"--distributed_interval=soon"}}},
	} {
		if err := tc.opts.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
		if _, err := Flags(tc.opts); err == nil {
			t.Errorf("%s: Flags accepted what Validate refuses", tc.name)
		}
	}
	if h, err := TLSHostname("https://fleet.example.com:8443/prefix"); err != nil || h != "fleet.example.com:8443" {
		t.Errorf("TLSHostname = %q, %v", h, err)
	}
}

// TestFlagsMatchGolden checks the builder against the one spelling of
// osqueryd's command line that orbit's real run and the stand-in check too.
func TestFlagsMatchGolden(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "osquery.flags"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	l := rootdir.Layout{Root: root}
	vars := map[string]string{"root": root, "host": "fleet.example.com:8443", "ca": "/etc/fleet.pem",
		"proxy": "proxy:3128", "config": "/etc/osquery/osquery.conf"}
	argv := func(sections ...string) []string { return golden.OsquerydArgv(t, vars, sections...) }
	extra := []string{"--verbose", "--config_refresh=10"}
	for _, tc := range []struct {
		name string
		opts FlagOptions
		want []string
	}{
		{"plain", FlagOptions{Layout: l}, argv("flagfile", "base", "tail")},
		{"fleet", FlagOptions{Layout: l, FleetURL: "https://fleet.example.com:8443"},
			argv("fleet-tunable", "flagfile", "base", "fleet", "tail")},
		{"fleet with CA, proxy and extra args", FlagOptions{Layout: l, FleetURL: "https://fleet.example.com:8443",
			CertFile: "/etc/fleet.pem", ProxyHost: "proxy:3128", ExtraArgs: extra},
			slices.Concat(argv("fleet-tunable", "flagfile", "base", "fleet", "fleet-ca", "fleet-proxy", "tail"), extra)},
		{"standalone", FlagOptions{Layout: l, ConfigPath: "/etc/osquery/osquery.conf"},
			argv("standalone-tunable", "flagfile", "base", "standalone", "tail")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Flags(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("argv differs from testdata/osqueryd-argv.golden\n got: %s\nwant: %s", strings.Join(got, " "), strings.Join(tc.want, " "))
			}
		})
	}
}
