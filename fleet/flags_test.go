package fleet

import (
	"reflect"
	"testing"
)

func TestParseFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		raw     string
		set     bool
		file    string
		dropped []string
		err     bool
	}{
		{name: "absent", raw: "", set: false},
		{name: "null", raw: "null", set: false},
		{name: "empty object clears", raw: "{}", set: true, file: ""},
		{name: "types", raw: `{"verbose":true,"disable_events":false,"distributed_interval":7,"logger_min_status":1.0,"config_refresh":1e3,"tls_hostname":"fleet.example.com"}`,
			set: true, file: "--config_refresh=1000\n--disable_events=false\n--distributed_interval=7\n--logger_min_status=1\n--tls_hostname=fleet.example.com\n--verbose=true\n"},
		{name: "fraction rounds like Fleet's %.f", raw: `{"x":2.5,"y":7.6}`, set: true, file: "--x=2\n--y=8\n"},
		{name: "big integer kept exact", raw: `{"x":12345678901234567890}`, set: true, file: "--x=12345678901234567890\n"},
		{name: "empty string is a bare flag", raw: `{"verbose":""}`, set: true, file: "--verbose\n"},
		{name: "leading dashes stripped", raw: `{"--verbose":true}`, set: true, file: "--verbose=true\n"},
		{name: "protected", raw: `{"database_path":"/x","extensions_autoload":"/x","host_identifier":"hostname","pidfile":"/x","extensions_socket":"/x","enroll_secret_env":"X","Database_Path":"/y","ok":1}`,
			set: true, file: "--ok=1\n", dropped: []string{"Database_Path", "database_path", "enroll_secret_env", "extensions_autoload", "extensions_socket", "host_identifier", "pidfile"}},
		{name: "line injection", raw: `{"a":"x\n--database_path=/evil","b":"y\rz","c":"nul\u0000"}`, set: true, file: "", dropped: []string{"a", "b", "c"}},
		{name: "bad names", raw: `{"a b":1,"a=b":2,"":3,"ok_1":4}`, set: true, file: "--ok_1=4\n", dropped: []string{"", "a b", "a=b"}},
		{name: "nested values", raw: `{"a":{"b":1},"c":[1],"d":null}`, set: true, file: "", dropped: []string{"a", "c", "d"}},
		{name: "not an object", raw: `[1,2]`, err: true},
		{name: "garbage", raw: `{"a":`, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, err := ParseFlags([]byte(tc.raw))
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
		})
	}
}
