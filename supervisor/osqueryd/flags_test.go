package osqueryd

import (
	"slices"
	"strings"
	"testing"

	"github.com/orbitagent/orbit/rootdir"
)

func TestFlagsOrder(t *testing.T) {
	t.Parallel()
	l := rootdir.Layout{Root: "/opt/orbit"}
	base := []string{
		"--pidfile=/opt/orbit/osquery.pid",
		"--database_path=/opt/orbit/osquery.db",
		"--extensions_socket=/opt/orbit/orbit-osquery.em",
		"--logger_path=/opt/orbit/osquery_log",
	}
	protected := []string{
		"--flagfile=/opt/orbit/osquery.flags",
		"--host_identifier=uuid",
		"--database_path=/opt/orbit/osquery.db",
		"--extensions_autoload=/opt/orbit/extensions.load",
	}
	fleet := []string{
		"--enroll_secret_env", "ENROLL_SECRET",
		"--host_identifier=uuid",
		"--tls_hostname=fleet.example.com:8443",
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
	}
	cat := func(parts ...[]string) []string { return slices.Concat(parts...) }
	tests := []struct {
		name string
		opts FlagOptions
		want []string
	}{
		{"plain", FlagOptions{Layout: l}, cat(base, protected)},
		{"fleet", FlagOptions{Layout: l, FleetURL: "https://fleet.example.com:8443"}, cat(base, fleet, protected)},
		{"fleet with CA, proxy and extra args", FlagOptions{
			Layout: l, FleetURL: "https://fleet.example.com:8443", CertFile: "/etc/fleet.pem",
			ProxyHost: "proxy:3128", ExtraArgs: []string{"--verbose", "--config_refresh=10"},
		}, cat(base, fleet, []string{"--tls_server_certs=/etc/fleet.pem", "--proxy_hostname=proxy:3128"}, protected, []string{"--verbose", "--config_refresh=10"})},
		{"standalone", FlagOptions{Layout: l, ConfigPath: "/etc/osquery/osquery.conf"}, cat(base,
			[]string{"--config_plugin=filesystem", "--config_path=/etc/osquery/osquery.conf", "--logger_plugin=filesystem"}, protected)},
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
