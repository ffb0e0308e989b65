package fleet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/orbitagent/orbit/internal/fuzzcorpus"
)

// checkDecode is what FuzzDecodeConfig (config_test.go) checks of every
// answer besides the flagfile: DecodeConfig gives the same result twice,
// keeps at most maxPendingScripts valid and distinct ids in each queue,
// channels only when all are safe, a timeout within bounds, and a cache
// file linear in the size of the answer that decodes back to
// what was kept.
func checkDecode(t *testing.T, data []byte, cfg *OrbitConfig, err error) {
	t.Helper()
	cfg2, err2 := DecodeConfig(data)
	if (err == nil) != (err2 == nil) || !reflect.DeepEqual(cfg, cfg2) {
		t.Fatalf("two decodes differ: %v / %v", err, err2)
	}
	if err != nil {
		if cfg != nil {
			t.Fatal("error with a config")
		}
		return
	}
	checkConfig(t, cfg)
	// A null command_line_startup_flags must reach the flagfile writer as
	// null: it empties the flagfile, as Fleet's agent does.
	var in struct {
		Flags *json.RawMessage `json:"command_line_startup_flags"`
	}
	if json.Unmarshal(data, &in) == nil && in.Flags != nil && bytes.Equal(bytes.TrimSpace(*in.Flags), []byte("null")) &&
		!bytes.Equal(bytes.TrimSpace(cfg.Flags), []byte("null")) {
		t.Fatalf("null flags became %q", cfg.Flags)
	}
	enc, err := encodeConfigCache(cfg)
	if err != nil {
		t.Fatalf("a decoded config does not encode: %v", err)
	}
	// Compacting may only escape U+2028 and U+2029 (3 bytes become 6).
	if len(enc) > 2*len(data)+256 {
		t.Fatalf("a %d-byte answer makes a %d-byte cache", len(data), len(enc))
	}
	back, err := DecodeConfig(enc)
	if err != nil {
		t.Fatalf("the cache does not decode: %v", err)
	}
	want := cacheOf(cfg).config()
	if !sameRaw(back.Flags, want.Flags) || !sameRaw(back.Extensions, want.Extensions) ||
		!reflect.DeepEqual(back.UpdateChannels, want.UpdateChannels) || back.ScriptExecutionTimeout != want.ScriptExecutionTimeout ||
		!reflect.DeepEqual(back.Notifications, Notifications{}) {
		t.Fatalf("cache round trip changed the config:\n%+v\n%+v", want, back)
	}
}

func checkConfig(t *testing.T, cfg *OrbitConfig) {
	t.Helper()
	for name, ids := range map[string][]string{"scripts": cfg.Notifications.PendingScriptExecutionIDs, "software": cfg.Notifications.PendingSoftwareInstallerIDs} {
		if len(ids) > maxPendingScripts {
			t.Fatalf("%d pending %s ids", len(ids), name)
		}
		seen := map[string]bool{}
		for _, id := range ids {
			if !validID(id) || seen[id] {
				t.Fatalf("pending %s id %q invalid or repeated", name, id)
			}
			seen[id] = true
		}
	}
	if c := cfg.UpdateChannels; c != nil && (!validChannel(c.Orbit) || !validChannel(c.Osqueryd) || !validChannel(c.Desktop)) {
		t.Fatalf("unsafe channels kept: %+v", c)
	}
	if cfg.ScriptExecutionTimeout < 0 || cfg.ScriptExecutionTimeout > maxScriptTimeout {
		t.Fatalf("timeout %d", cfg.ScriptExecutionTimeout)
	}
}

// sameRaw compares two JSON values by meaning: encoding may compact or
// escape them.
func sameRaw(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	decode := func(r json.RawMessage) (any, error) {
		d := json.NewDecoder(bytes.NewReader(r))
		d.UseNumber()
		var v any
		err := d.Decode(&v)
		return v, err
	}
	va, erra := decode(a)
	vb, errb := decode(b)
	return erra == nil && errb == nil && reflect.DeepEqual(va, vb)
}

// configSeeds are answers shaped like Fleet's GetOrbitConfig (field names
// from server/fleet/orbit.go: notifications is always sent, the rest is
// omitempty), per platform, plus hostile ones.
func configSeeds() map[string][]any {
	ids := make([]string, 0, 150)
	for i := range 150 {
		ids = append(ids, fmt.Sprintf("%q", fmt.Sprintf("exec-%d", i%120)))
	}
	seeds := map[string]string{
		"minimal": `{"notifications":{}}`,
		"linux": `{"script_execution_timeout":300,"command_line_startup_flags":{"distributed_interval":10,"logger_tls_period":10,"verbose":true,"disable_events":false},` +
			`"extensions":{"hello_world":{"channel":"stable","platform":"linux"}},"notifications":{"pending_script_execution_ids":["8f3b7c1e-5d2a-4c6b-9e0f-1a2b3c4d5e6f"]},` +
			`"update_channels":{"orbit":"stable","osqueryd":"5.12.1","desktop":"stable"}}`,
		"macos-mdm": `{"nudge_config":{"osVersionRequirements":[{"requiredMinimumOSVersion":"14.4","requiredInstallationDate":"2024-04-01T04:00:00Z"}]},` +
			`"notifications":{"renew_enrollment_profile":true,"rotate_disk_encryption_key":true,"needs_mdm_migration":true,"run_setup_experience":true},"update_channels":{"orbit":"edge","osqueryd":"edge","desktop":"edge"}}`,
		"windows-mdm": `{"notifications":{"needs_programmatic_windows_mdm_enrollment":true,"windows_mdm_discovery_endpoint":"https://fleet.example.com/api/mdm/microsoft/discovery",` +
			`"enforce_bitlocker_encryption":true,"enable_bitlocker_pin_protector_config":true},"script_execution_timeout":600}`,
		"software":    `{"notifications":{"pending_software_installer_ids":["f1e2d3c4-b5a6-4978-8695-a4b3c2d1e0f9"],"run_disk_encryption_escrow":true}}`,
		"nulls":       `{"command_line_startup_flags":null,"extensions":null,"nudge_config":null,"update_channels":null,"notifications":{}}`,
		"many-ids":    `{"notifications":{"pending_script_execution_ids":[` + strings.Join(ids, ",") + `],"pending_software_installer_ids":[` + strings.Join(ids, ",") + `]}}`,
		"bad-ids":     `{"notifications":{"pending_script_execution_ids":["","a\u0000b","a\nb","` + strings.Repeat("x", maxExecutionIDLen+1) + `","ok"]}}`,
		"bad-channel": `{"update_channels":{"orbit":"../../etc","osqueryd":".hidden","desktop":"stable"},"script_execution_timeout":-1}`,
		"huge-number": `{"script_execution_timeout":1e300}`,
		"deep":        `{"extensions":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`,
		"wrong-types": `{"notifications":{"pending_script_execution_ids":"x"},"update_channels":[]}`,
		"not-json":    `<html><body>502 Bad Gateway</body></html>`,
	}
	out := map[string][]any{}
	for name, s := range seeds {
		out[name] = []any{[]byte(s)}
	}
	return out
}

// TestFuzzDecodeConfigCorpus keeps testdata/fuzz/FuzzDecodeConfig equal to
// configSeeds.
func TestFuzzDecodeConfigCorpus(t *testing.T) {
	t.Parallel()
	fuzzcorpus.Check(t, "FuzzDecodeConfig", configSeeds())
}

// TestDecodeConfigBoundsSoftwareQueue: the software-install queue is
// cleaned and capped like the script queue.
func TestDecodeConfigBoundsSoftwareQueue(t *testing.T) {
	t.Parallel()
	cfg, err := DecodeConfig(configSeeds()["many-ids"][0].([]byte))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(cfg.Notifications.PendingSoftwareInstallerIDs); n != maxPendingScripts {
		t.Fatalf("%d software ids kept, want %d", n, maxPendingScripts)
	}
	cfg, err = DecodeConfig([]byte(`{"notifications":{"pending_software_installer_ids":["a","a","","b\u0007","c"]}}`))
	if err != nil || strings.Join(cfg.Notifications.PendingSoftwareInstallerIDs, ",") != "a,c" {
		t.Fatalf("software ids %q, %v", cfg.Notifications.PendingSoftwareInstallerIDs, err)
	}
}

// TestConfigCacheSizeIsLinear: an answer of deeply nested values makes a
// cache of about its own size (indenting made 18 KB into 162 MB).
func TestConfigCacheSizeIsLinear(t *testing.T) {
	t.Parallel()
	in := `{"extensions":` + strings.Repeat("[", 9000) + strings.Repeat("]", 9000) + `}`
	cfg, err := DecodeConfig([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := encodeConfigCache(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(enc) > 2*len(in) {
		t.Fatalf("a %d-byte answer makes a %d-byte cache", len(in), len(enc))
	}
}
