package osquery

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func TestParseServerFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		raw     string
		set     bool
		file    string
		dropped []string // names, in order
		reasons []string // a part of each reason, same order (optional)
		err     bool
	}{
		{name: "absent leaves the flagfile", raw: "", set: false},
		{name: "blank leaves the flagfile", raw: " \n", set: false},
		{name: "null empties it, as Fleet's agent", raw: "null", set: true, file: ""},
		{name: "empty object empties it", raw: "{}", set: true, file: ""},
		{name: "unknown flag dropped, the rest applies", raw: `{"no_such_flag": 1, "distributed_interval": 7}`,
			set: true, file: "--distributed_interval=7\n", dropped: []string{"no_such_flag"}, reasons: []string{"osqueryd defines no such flag"}},
		{name: "types rendered as Fleet's agent", raw: `{"verbose":true,"disable_events":false,"distributed_interval":7,"logger_min_status":1.0,"config_refresh":1e3,"pack_delimiter":"/"}`,
			set: true, file: "--config_refresh=1000\n--disable_events=false\n--distributed_interval=7\n--logger_min_status=1\n--pack_delimiter=/\n--verbose=true\n"},
		{name: "fractions round like Fleet's %.f", raw: `{"distributed_interval":2.5,"config_refresh":7.6}`,
			set: true, file: "--config_refresh=8\n--distributed_interval=2\n"},
		{name: "big integer kept exact", raw: `{"watchdog_memory_limit":18446744073709551615}`,
			set: true, file: "--watchdog_memory_limit=18446744073709551615\n"},
		{name: "values that do not fit the type", raw: `{"distributed_interval":-1,"watchdog_level":2147483648,"verbose":"maybe","carver_block_size":4294967296,"config_refresh":"60s","logger_min_status":true}`,
			set: true, file: "", dropped: []string{"carver_block_size", "config_refresh", "distributed_interval", "logger_min_status", "verbose", "watchdog_level"},
			reasons: []string{"not a valid uint32", "not a valid uint64", "not a valid uint64", "not a valid int32", "not a valid bool", "not a valid int32"}},
		{name: "strings accepted for typed flags when they parse", raw: `{"distributed_interval":"0x10","verbose":"YES"}`,
			set: true, file: "--distributed_interval=0x10\n--verbose=YES\n"},
		{name: "empty string sets a string flag empty", raw: `{"pack_delimiter":""}`, set: true, file: "--pack_delimiter=\n"},
		{name: "empty string is no bool", raw: `{"verbose":""}`, set: true, file: "", dropped: []string{"verbose"}},
		{name: "aliases written as the flag they set", raw: `{"config_tls_refresh":30,"log_numerics_as_numbers":true}`,
			set: true, file: "--config_refresh=30\n--logger_numerics=true\n"},
		{name: "flag beats its alias", raw: `{"config_tls_refresh":30,"config_refresh":45}`,
			set: true, file: "--config_refresh=45\n", dropped: []string{"config_tls_refresh"}, reasons: []string{"alias of config_refresh, which is also set"}},
		{name: "flag beats its alias sorted first", raw: `{"logger_tls_max":100,"logger_tls_max_linesize":200}`,
			set: true, file: "--logger_tls_max_linesize=200\n", dropped: []string{"logger_tls_max"}},
		{name: "protected flags", raw: `{"tls_hostname":"evil.example.com","tls_server_certs":"/tmp/evil.pem","logger_tls_endpoint":"/x","logger_path":"/etc/cron.d","fromenv":"x","tryfromenv":"x","undefok":"x","enroll_secret_path":"/etc/shadow","extensions_autoload":"/tmp/x","config_refresh":9}`,
			set: true, file: "--config_refresh=9\n",
			dropped: []string{"enroll_secret_path", "extensions_autoload", "fromenv", "logger_path", "logger_tls_endpoint", "tls_hostname", "tls_server_certs", "tryfromenv", "undefok"},
			reasons: []string{"managed by orbit", "managed by orbit", "managed by orbit", "managed by orbit", "managed by orbit", "managed by orbit", "managed by orbit", "managed by orbit", "managed by orbit"}},
		{name: "aliases of protected flags", raw: `{"db_path":"/tmp/db","osquery_log_dir":"/tmp","socket":"/tmp/s","timeout":"1","interval":"1"}`,
			set: true, file: "", dropped: []string{"db_path", "interval", "osquery_log_dir", "socket", "timeout"},
			reasons: []string{"alias of database_path, managed by orbit", "alias of extensions_interval", "alias of logger_path", "alias of extensions_socket", "alias of extensions_timeout"}},
		{name: "no-prefix of a bool", raw: `{"noverbose":true,"nodisable_extensions":true}`,
			set: true, file: "", dropped: []string{"nodisable_extensions", "noverbose"}, reasons: []string{"managed by orbit", `write "verbose": false instead`}},
		{name: "line injection", raw: `{"pack_delimiter":"x\n--tls_hostname=evil","nullvalue":"y\rz","augeas_lenses":"nul\u0000"}`,
			set: true, file: "", dropped: []string{"augeas_lenses", "nullvalue", "pack_delimiter"}, reasons: []string{"line break or NUL", "line break or NUL", "line break or NUL"}},
		{name: "bad names", raw: `{"a b":1,"a=b":2,"":3,"--verbose":true,"Verbose":true,"S":true,"verbose\n--tls_hostname":1,"distributed-interval":7,"distributed_interval":7}`,
			set: true, file: "--distributed_interval=7\n",
			dropped: []string{`""`, `"--verbose"`, `"S"`, `"Verbose"`, `"a b"`, `"a=b"`, `"distributed-interval"`, `"verbose\n--tls_hostname"`}},
		{name: "nested and null values", raw: `{"pack_delimiter":{"b":1},"nullvalue":[1],"verbose":null}`,
			set: true, file: "", dropped: []string{"nullvalue", "pack_delimiter", "verbose"}, reasons: []string{"objects and arrays", "objects and arrays", "null is not"}},
		{name: "number out of range", raw: `{"pack_delimiter":1e400}`, set: true, file: "", dropped: []string{"pack_delimiter"}, reasons: []string{"out of range"}},
		{name: "too long", raw: `{"pack_delimiter":"` + strings.Repeat("x", maxValueLen+1) + `"}`, set: true, file: "", dropped: []string{"pack_delimiter"}, reasons: []string{"longer than"}},
		{name: "duplicate keys: the last one", raw: `{"distributed_interval":1,"distributed_interval":2}`, set: true, file: "--distributed_interval=2\n"},
		{name: "not an object", raw: `[1,2]`, err: true},
		{name: "a string", raw: `"--verbose"`, err: true},
		{name: "garbage", raw: `{"a":`, err: true},
		{name: "trailing data", raw: `{"verbose":true} {"tls_hostname":"x"}`, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, err := ParseServerFlags([]byte(tc.raw))
			if (err != nil) != tc.err {
				t.Fatalf("error %v, want error %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if f.Set != tc.set {
				t.Errorf("Set = %v, want %v", f.Set, tc.set)
			}
			if got := string(RenderFlagfile(f.Values)); got != tc.file {
				t.Errorf("flagfile %q, want %q", got, tc.file)
			}
			var names []string
			for _, d := range f.Dropped {
				names = append(names, d.Name)
			}
			if !reflect.DeepEqual(names, tc.dropped) {
				t.Errorf("dropped %q, want %q", names, tc.dropped)
			}
			for i, part := range tc.reasons {
				if i < len(f.Dropped) && !strings.Contains(f.Dropped[i].Reason, part) {
					t.Errorf("reason for %s = %q, want it to contain %q", f.Dropped[i].Name, f.Dropped[i].Reason, part)
				}
			}
		})
	}
}

func TestParseServerFlagsNeverLogsValues(t *testing.T) {
	t.Parallel()
	const secret = "AKIA-very-secret-value"
	f, err := ParseServerFlags([]byte(`{"aws_secret_access_key":"` + secret + "\\n" + `","enroll_secret_path":"` + secret + `","distributed_interval":"` + secret + `"}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Dropped) != 3 {
		t.Fatalf("dropped %+v, want all three", f.Dropped)
	}
	for _, d := range f.Dropped {
		if strings.Contains(d.Name+d.Reason, secret) {
			t.Fatalf("dropped flag %+v shows its value", d)
		}
	}
}

func TestParseServerFlagsCapsTheDroppedList(t *testing.T) {
	t.Parallel()
	m := map[string]int{"distributed_interval": 7}
	for i := 0; i < 500; i++ {
		m[fmt.Sprintf("junk_%03d", i)] = i
	}
	raw, _ := json.Marshal(m)
	f, err := ParseServerFlags(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Dropped) != maxDroppedListed+1 {
		t.Fatalf("%d dropped entries, want %d listed and one count", len(f.Dropped), maxDroppedListed)
	}
	last := f.Dropped[len(f.Dropped)-1]
	if last.Name != "(450 more)" {
		t.Fatalf("last entry %+v, want the count of the rest", last)
	}
	if f.Values["distributed_interval"] != "7" || len(f.Values) != 1 {
		t.Fatalf("values %v", f.Values)
	}
}

func TestProtectedFlags(t *testing.T) {
	t.Parallel()
	list := ProtectedFlags()
	seen := map[string]bool{}
	for i, p := range list {
		d, ok := LookupFlag(p.Name)
		if !ok || d.Name != p.Name {
			t.Errorf("protected %q is not a flag osqueryd defines", p.Name)
		}
		if p.Reason == "" {
			t.Errorf("protected %q has no reason", p.Name)
		}
		if seen[p.Name] {
			t.Errorf("protected %q listed twice", p.Name)
		}
		seen[p.Name] = true
		if i > 0 && list[i-1].Name >= p.Name {
			t.Errorf("not sorted at %q", p.Name)
		}
	}
	// Issue 14 item 5 and the flags orbit protected before.
	for _, name := range []string{"tls_hostname", "tls_server_certs", "enroll_tls_endpoint", "config_tls_endpoint",
		"distributed_tls_read_endpoint", "distributed_tls_write_endpoint", "logger_tls_endpoint",
		"carver_start_endpoint", "carver_continue_endpoint", "logger_path", "fromenv", "tryfromenv", "undefok",
		"pidfile", "extensions_socket", "enroll_secret_env", "flagfile", "host_identifier", "database_path", "extensions_autoload",
		"config_plugin", "logger_plugin", "distributed_plugin", "config_path", "tls_client_cert", "tls_client_key",
		"proxy_hostname", "enroll_secret_path", "extensions_require", "extensions_timeout", "extensions_interval"} {
		if _, ok := IsProtected(name); !ok {
			t.Errorf("%s is not protected", name)
		}
	}
	// Every alias of a protected flag is protected.
	for alias, target := range FlagAliases() {
		_, pa := IsProtected(alias)
		_, pt := IsProtected(target)
		if pa != pt {
			t.Errorf("alias %s protected=%v, its flag %s protected=%v", alias, pa, target, pt)
		}
	}
	// What the server tunes stays the server's.
	for _, name := range []string{"distributed_interval", "config_refresh", "verbose", "disable_events", "watchdog_memory_limit",
		"logger_tls_period", "disable_distributed", "disable_carver", "events_expiry", "config_tls_refresh"} {
		if r, ok := IsProtected(name); ok {
			t.Errorf("%s is protected (%s); the server tunes it", name, r)
		}
	}
	list[0].Name = "changed"
	if ProtectedFlags()[0].Name == "changed" {
		t.Fatal("ProtectedFlags returns the list itself, not a copy")
	}
}

// flagfileLine is what RenderFlagfile may write: --name=value.
var flagfileLine = regexp.MustCompile(`^--([a-z0-9_]+)=(.*)$`)

// FuzzServerFlags feeds command_line_startup_flags from a hostile server.
// Whatever the input, the flagfile holds only --known_flag=value lines of
// flags the server may set, with values osqueryd accepts and no line break
// inside; and the same input always gives the same result.
func FuzzServerFlags(f *testing.F) {
	for _, seed := range []string{
		`{"no_such_flag": 1, "distributed_interval": 7}`,
		`{"verbose":true,"config_refresh":1e3,"logger_min_status":1.5,"pack_delimiter":""}`,
		`{"tls_hostname":"evil","db_path":"/x","socket":"/s","nodisable_extensions":true,"noverbose":1}`,
		`{"pack_delimiter":"x\n--tls_hostname=evil","nullvalue":"\u0000","--verbose":true,"A":"x"}`,
		`{"config_tls_refresh":1,"config_refresh":2,"logger_tls_max":3}`,
		`{"watchdog_level":-2147483649,"carver_block_size":"0x10","distributed_interval":"\t-1"}`,
		`null`, `{}`, `[1]`, `"x"`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		a, errA := ParseServerFlags(raw)
		b, errB := ParseServerFlags(raw)
		if (errA == nil) != (errB == nil) || !reflect.DeepEqual(a, b) {
			t.Fatalf("two parses differ: %+v (%v) and %+v (%v)", a, errA, b, errB)
		}
		if errA != nil {
			return
		}
		file := RenderFlagfile(a.Values)
		if !reflect.DeepEqual(file, RenderFlagfile(b.Values)) {
			t.Fatal("two renders differ")
		}
		if len(file) > 0 && file[len(file)-1] != '\n' {
			t.Fatalf("flagfile %q does not end with a newline", file)
		}
		lines := strings.Split(strings.TrimSuffix(string(file), "\n"), "\n")
		if len(file) == 0 {
			lines = nil
		}
		if len(lines) != len(a.Values) {
			t.Fatalf("%d lines for %d values: a value broke its line: %q", len(lines), len(a.Values), file)
		}
		for _, line := range lines {
			m := flagfileLine.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("line %q is not --name=value", line)
			}
			name, value := m[1], m[2]
			d, ok := LookupFlag(name)
			if !ok || d.Name != name {
				t.Fatalf("line %q: not a flag osqueryd defines under its own name", line)
			}
			if r, p := IsProtected(name); p {
				t.Fatalf("line %q sets a protected flag (%s)", line, r)
			}
			if strings.ContainsAny(value, "\r\x00") {
				t.Fatalf("line %q has a CR or NUL", line)
			}
			if _, err := d.ParseValue(value); err != nil {
				t.Fatalf("line %q: osqueryd would refuse the value: %v", line, err)
			}
		}
		if !a.Set && (len(a.Values) > 0 || len(a.Dropped) > 0) {
			t.Fatalf("not Set but has values or drops: %+v", a)
		}
		for _, d := range a.Dropped {
			if strings.ContainsAny(d.Name, "\n\r\x00") || d.Reason == "" {
				t.Fatalf("dropped entry %+v is not safe to log", d)
			}
		}
	})
}
