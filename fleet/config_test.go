package fleet

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/orbitagent/orbit/osquery"
)

func TestDecodeConfig(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", maxExecutionIDLen+1)
	for _, tc := range []struct {
		name      string
		in        string
		err       bool
		ids       []string
		channels  *UpdateChannels
		timeout   int
		flagsNil  bool
		flagsNull bool
	}{
		{name: "empty object", in: `{}`, flagsNil: true},
		{name: "full", in: `{"command_line_startup_flags":{"a":1},"update_channels":{"orbit":"stable","osqueryd":"5.12.1","desktop":"edge"},"script_execution_timeout":60,"notifications":{"pending_script_execution_ids":["a","b"]}}`,
			ids: []string{"a", "b"}, channels: &UpdateChannels{"stable", "5.12.1", "edge"}, timeout: 60},
		// null is kept: it empties the flagfile (Fleet's agent does so).
		{name: "null flags", in: `{"command_line_startup_flags":null}`, flagsNull: true},
		{name: "ids cleaned", in: `{"notifications":{"pending_script_execution_ids":["a","","a","b\n","` + long + `","c"]}}`, ids: []string{"a", "c"}, flagsNil: true},
		{name: "unsafe channel dropped", in: `{"update_channels":{"orbit":"../../etc","osqueryd":"stable","desktop":"stable"}}`, flagsNil: true},
		{name: "negative timeout", in: `{"script_execution_timeout":-5}`, flagsNil: true},
		{name: "huge timeout capped", in: `{"script_execution_timeout":9000000000000000000}`, timeout: maxScriptTimeout, flagsNil: true},
		{name: "unknown fields ignored", in: `{"new_thing":{"deep":[1,2,3]},"notifications":{"future":true}}`, flagsNil: true},
		{name: "wrong type", in: `{"script_execution_timeout":"60"}`, err: true},
		{name: "not JSON", in: `<html>`, err: true},
		{name: "truncated", in: `{"command_line_startup_flags":{"a":`, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := DecodeConfig([]byte(tc.in))
			if (err != nil) != tc.err {
				t.Fatalf("error %v, want error %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if strings.Join(cfg.Notifications.PendingScriptExecutionIDs, ",") != strings.Join(tc.ids, ",") {
				t.Errorf("ids %q, want %q", cfg.Notifications.PendingScriptExecutionIDs, tc.ids)
			}
			if (cfg.UpdateChannels == nil) != (tc.channels == nil) || (tc.channels != nil && *cfg.UpdateChannels != *tc.channels) {
				t.Errorf("channels %+v, want %+v", cfg.UpdateChannels, tc.channels)
			}
			if cfg.ScriptExecutionTimeout != tc.timeout {
				t.Errorf("timeout %d, want %d", cfg.ScriptExecutionTimeout, tc.timeout)
			}
			if (cfg.Flags == nil) != tc.flagsNil {
				t.Errorf("flags %q, want nil %v", cfg.Flags, tc.flagsNil)
			}
			if tc.flagsNull {
				f, err := osquery.ParseServerFlags(cfg.Flags)
				if err != nil || !f.Set || len(f.Values) != 0 {
					t.Errorf("null flags parse to %+v, %v: want an empty flagfile", f, err)
				}
			}
		})
	}
}

func TestConfigCacheRoundTrip(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/fleet-config.json"
	if cfg, err := loadConfigCache(path); cfg != nil || err != nil {
		t.Fatalf("missing cache: %v %v", cfg, err)
	}
	in, err := DecodeConfig([]byte(`{"command_line_startup_flags":{"verbose":true},"update_channels":{"orbit":"a","osqueryd":"b","desktop":"c"},"script_execution_timeout":9,"notifications":{"pending_script_execution_ids":["x"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	data, err := encodeConfigCache(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := saveConfigCache(path, data); err != nil {
		t.Fatal(err)
	}
	out, err := loadConfigCache(path)
	if err != nil {
		t.Fatal(err)
	}
	fin, _ := osquery.ParseServerFlags(in.Flags)
	fout, _ := osquery.ParseServerFlags(out.Flags)
	if *out.UpdateChannels != *in.UpdateChannels || out.ScriptExecutionTimeout != 9 || !bytes.Equal(osquery.RenderFlagfile(fin.Values), osquery.RenderFlagfile(fout.Values)) {
		t.Errorf("round trip %+v", out)
	}
	if len(out.Notifications.PendingScriptExecutionIDs) != 0 {
		t.Errorf("pending scripts were cached: they must never be replayed")
	}
}

// FuzzDecodeConfig feeds arbitrary server answers through what the agent
// does with them: decoding must not panic, and the flagfile it would write
// must hold only well-formed, unprotected --name[=value] lines.
func FuzzDecodeConfig(f *testing.F) {
	for _, s := range []string{
		`{}`, `null`, `[]`, `""`, `{"command_line_startup_flags":null}`,
		`{"command_line_startup_flags":{"verbose":true,"distributed_interval":7,"x":1.5,"s":"v"}}`,
		`{"command_line_startup_flags":{"database_path":"/x","a":"b\n--pidfile=/y"}}`,
		`{"command_line_startup_flags":[1,2]}`,
		`{"update_channels":{"orbit":"stable","osqueryd":"edge","desktop":"1.2.3"}}`,
		`{"update_channels":{"orbit":"../x"}}`,
		`{"notifications":{"pending_script_execution_ids":["a","a",""]},"script_execution_timeout":-1}`,
		`{"script_execution_timeout":1e400}`,
		`{"command_line_startup_flags":{"--":1,"-a-":2,"é":3}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := DecodeConfig(data)
		checkDecode(t, data, cfg, err) // config_fuzz_test.go
		if err != nil {
			return
		}
		if cfg.ScriptExecutionTimeout < 0 || cfg.ScriptExecutionTimeout > maxScriptTimeout {
			t.Fatalf("timeout %d kept", cfg.ScriptExecutionTimeout)
		}
		if len(cfg.Notifications.PendingScriptExecutionIDs) > maxPendingScripts {
			t.Fatalf("too many pending scripts kept")
		}
		for _, id := range cfg.Notifications.PendingScriptExecutionIDs {
			if !validID(id) {
				t.Fatalf("invalid id %q kept", id)
			}
		}
		if c := cfg.UpdateChannels; c != nil && (!validChannel(c.Orbit) || !validChannel(c.Osqueryd) || !validChannel(c.Desktop)) {
			t.Fatalf("unsafe channel kept: %+v", c)
		}
		flags, err := osquery.ParseServerFlags(cfg.Flags)
		if err != nil {
			return
		}
		file := string(osquery.RenderFlagfile(flags.Values))
		if file == "" {
			return
		}
		if !strings.HasSuffix(file, "\n") {
			t.Fatalf("flagfile does not end with a newline: %q", file)
		}
		for _, line := range strings.Split(strings.TrimSuffix(file, "\n"), "\n") {
			name, _, _ := strings.Cut(strings.TrimPrefix(line, "--"), "=")
			_, known := osquery.LookupFlag(name)
			_, protected := osquery.IsProtected(name)
			if !strings.HasPrefix(line, "--") || !known || protected || strings.ContainsAny(line, "\r\x00") {
				t.Fatalf("bad flagfile line %q", line)
			}
		}
		if _, err := encodeConfigCache(cfg); err != nil {
			t.Fatalf("cannot cache a decoded config: %v", err)
		}
	})
}

func TestParseExtensions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, raw string
		want      []Extension
		dropped   []string
		err       bool
	}{
		{name: "absent", raw: ""},
		{name: "null", raw: "null"},
		{name: "empty", raw: "{}"},
		{name: "this platform only, sorted, labels ignored",
			raw:  `{"zeta":{"platform":"linux","channel":"stable"},"alpha":{"platform":"linux","channel":"edge","labels":["l1"]},"mac":{"platform":"macos","channel":"stable"},"arm":{"platform":"linux-arm64","channel":"stable"}}`,
			want: []Extension{{"alpha", "linux", "edge"}, {"zeta", "linux", "stable"}}},
		{name: "hostile names and channels refused",
			raw:     `{"../../etc/cron.d/x":{"platform":"linux","channel":"stable"},"a/b":{"platform":"linux","channel":"stable"},".hidden":{"platform":"linux","channel":"stable"},"ok":{"platform":"linux","channel":"../x"},"good":{"platform":"linux","channel":"5.12"}}`,
			want:    []Extension{{"good", "linux", "5.12"}},
			dropped: []string{`"../../etc/cron.d/x"`, `".hidden"`, `"a/b"`, "ok"}},
		{name: "hostile names for another platform are ignored", raw: `{"../x":{"platform":"windows","channel":"stable"}}`},
		{name: "not an object", raw: `[1]`, err: true},
		{name: "wrong field type", raw: `{"a":{"platform":1}}`, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, dropped, err := ParseExtensions([]byte(tc.raw), "linux")
			if (err != nil) != tc.err {
				t.Fatalf("error %v, want error %v", err, tc.err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("extensions %+v, want %+v", got, tc.want)
			}
			var names []string
			for _, d := range dropped {
				names = append(names, d.Name)
				if d.Reason == "" {
					t.Errorf("%s dropped without a reason", d.Name)
				}
			}
			if !slices.Equal(names, tc.dropped) {
				t.Errorf("dropped %q, want %q", names, tc.dropped)
			}
		})
	}
}
