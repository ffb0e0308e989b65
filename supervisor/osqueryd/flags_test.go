package osqueryd

import (
	"slices"
	"strings"
	"testing"

	"github.com/orbitagent/orbit/internal/golden"
	"github.com/orbitagent/orbit/rootdir"
)

func TestFlagsOrder(t *testing.T) {
	t.Parallel()
	l := rootdir.Layout{Root: "/opt/orbit"}
	vars := map[string]string{"root": "/opt/orbit", "host": "fleet.example.com:8443", "ca": "/etc/fleet.pem", "proxy": "proxy:3128"}
	argv := func(sections ...string) []string { return golden.OsquerydArgv(t, vars, sections...) }
	cat := func(parts ...[]string) []string { return slices.Concat(parts...) }
	extra := []string{"--verbose", "--config_refresh=10"}
	standalone := []string{"--config_plugin=filesystem", "--config_path=/etc/osquery/osquery.conf", "--logger_plugin=filesystem"}
	tests := []struct {
		name string
		opts FlagOptions
		want []string
	}{
		{"plain", FlagOptions{Layout: l}, argv("base", "protected")},
		{"fleet", FlagOptions{Layout: l, FleetURL: "https://fleet.example.com:8443"}, argv("base", "fleet", "protected")},
		{"fleet with CA, proxy and extra args", FlagOptions{
			Layout: l, FleetURL: "https://fleet.example.com:8443", CertFile: "/etc/fleet.pem",
			ProxyHost: "proxy:3128", ExtraArgs: extra,
		}, cat(argv("base", "fleet", "fleet-ca", "fleet-proxy", "protected"), extra)},
		{"standalone", FlagOptions{Layout: l, ConfigPath: "/etc/osquery/osquery.conf"}, cat(argv("base"), standalone, argv("protected"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Flags(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("flags differ\n got: %s\nwant: %s", strings.Join(got, " "), strings.Join(tt.want, " "))
			}
		})
	}
}

func TestFlagsRefuseBadInput(t *testing.T) {
	t.Parallel()
	l := rootdir.Layout{Root: "/opt/orbit"}
	tests := []struct {
		name, wantErr string
		opts          FlagOptions
	}{
		{"fleet and standalone", "mutually exclusive", FlagOptions{Layout: l, FleetURL: "https://f", ConfigPath: "/c"}},
		{"plain http", "must start with https://", FlagOptions{Layout: l, FleetURL: "http://fleet.example.com"}},
		{"no host", "has no host", FlagOptions{Layout: l, FleetURL: "https://"}},
		{"path", "has a path", FlagOptions{Layout: l, FleetURL: "https://fleet.example.com/fleet"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Flags(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestCheckServerFlag(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"host_identifier", "database_path", "extensions_autoload", "pidfile", "extensions_socket", "enroll_secret_env", "flagfile"} {
		if CheckServerFlag(name) == nil {
			t.Errorf("%s accepted from the server, want refused", name)
		}
	}
	for _, name := range []string{"distributed_interval", "verbose", "logger_plugin"} {
		if err := CheckServerFlag(name); err != nil {
			t.Errorf("%s refused: %v", name, err)
		}
	}
}

func TestChildEnv(t *testing.T) {
	t.Parallel()
	parent := []string{"PATH=/bin", "ENROLL_SECRET=stale", "ORBIT_ENROLL_SECRET=s3cret", "HOME=/root"}
	got := ChildEnv(parent, "s3cret")
	want := []string{"PATH=/bin", "HOME=/root", "ENROLL_SECRET=s3cret"}
	if !slices.Equal(got, want) {
		t.Fatalf("ChildEnv = %v, want %v", got, want)
	}
	if got := ChildEnv(parent, ""); slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, "SECRET") }) {
		t.Fatalf("no secret given, but env has one: %v", got)
	}
}
