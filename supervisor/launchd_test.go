package supervisor

import (
	"encoding/xml"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	_ "unsafe" // go:linkname, to render with kardianos/service's own engine
)

// kardianosRender is kardianos/service's template engine (template.go,
// built on every OS), which its darwin Install renders the plist with.
//
//go:linkname kardianosRender github.com/kardianos/service.renderTemplate
func kardianosRender(text string, data map[string]any, funcs map[string]func(string) (string, error)) (string, error)

// kardianosPlist is what kardianos/service v1.3.0 writes on macOS for cfg:
// its darwin Install's data, rendered by its engine with its html escaper,
// from the options orbit gives it. (Install itself runs only on macOS.)
func kardianosPlist(t *testing.T, cfg ServiceConfig) string {
	t.Helper()
	opts := serviceOptions(cfg)
	b := func(k string) string {
		if v, _ := opts[k].(bool); v {
			return "true"
		}
		return "false"
	}
	logDir := opts["LogDirectory"].(string)
	data := map[string]any{
		"Name": cfg.Name, "Path": cfg.Executable, "Arguments": cfg.Args, "ChRoot": "", "UserName": "", "WorkingDirectory": "",
		"KeepAlive": b("KeepAlive"), "RunAtLoad": b("RunAtLoad"), "SessionCreate": b("SessionCreate"),
		"StandardOutPath":   fmt.Sprintf("%s/%s.%s.log", logDir, cfg.Name, "out"),
		"StandardErrorPath": fmt.Sprintf("%s/%s.%s.log", logDir, cfg.Name, "err"),
		"EnvVars":           []string(nil),
	}
	out, err := kardianosRender(opts["LaunchdConfig"].(string), data,
		map[string]func(string) (string, error){"html": func(s string) (string, error) { return plistEscape.Replace(s), nil }})
	if err != nil {
		t.Fatalf("kardianos cannot render our plist template: %v", err)
	}
	return out
}

var plistConfigs = []ServiceConfig{
	{Name: DefaultIdentifier, Executable: "/opt/orbit/bin/orbit/orbit", Args: []string{
		"--root-dir=/opt/orbit", "--fleet-url=https://fleet.example.com:8443", "--enroll-secret-path=/opt/orbit/secret.txt"}},
	{Name: "com.example.orbit", Executable: "/opt/my orbit/bin/orbit/orbit", Args: []string{
		`--x="q" & <tag> 'a'`, "--", "--verbose"}},
	{Name: "orbit", Executable: "/opt/orbit/bin/orbit/orbit"},
}

// The plist a package ships is byte for byte what kardianos writes when
// `orbit service install` runs on macOS.
func TestLaunchdPlistEqualsKardianos(t *testing.T) {
	t.Parallel()
	for _, cfg := range plistConfigs {
		got, err := LaunchdPlist(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if want := kardianosPlist(t, cfg); got != want {
			t.Errorf("LaunchdPlist differs from kardianos's plist.\nLaunchdPlist:\n%s\nkardianos:\n%s", got, want)
		}
	}
}

// plistDict decodes a plist's top-level dict of strings, booleans and
// string arrays, as launchd reads it.
func plistDict(t *testing.T, doc string) map[string]any {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(doc))
	out := map[string]any{}
	var key string
	var arr []string
	inArr := false
	depth := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("plist is not XML: %v\n%s", err, doc)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			depth++
			switch e.Name.Local {
			case "key", "string":
				var s string
				if err := d.DecodeElement(&s, &e); err != nil {
					t.Fatal(err)
				}
				depth--
				switch {
				case e.Name.Local == "key":
					key = s
				case inArr:
					arr = append(arr, s)
				default:
					out[key] = s
				}
			case "true", "false":
				out[key] = e.Name.Local == "true"
			case "array":
				inArr, arr = true, []string{}
			}
		case xml.EndElement:
			depth--
			if e.Name.Local == "array" {
				out[key], inArr = arr, false
			}
		}
	}
	return out
}

func TestLaunchdPlistContent(t *testing.T) {
	t.Parallel()
	cfg := plistConfigs[1]
	got, err := LaunchdPlist(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"Label":             "com.example.orbit",
		"ProgramArguments":  append([]string{cfg.Executable}, cfg.Args...),
		"KeepAlive":         true,
		"RunAtLoad":         true,
		"StandardOutPath":   "/var/log/orbit/com.example.orbit.out.log",
		"StandardErrorPath": "/var/log/orbit/com.example.orbit.err.log",
	}
	if d := plistDict(t, got); !reflect.DeepEqual(d, want) {
		t.Errorf("plist reads as\n%v\nwant\n%v\n%s", d, want, got)
	}
	if !strings.HasPrefix(got, `<?xml version="1.0" encoding="UTF-8"?>`+"\n<!DOCTYPE plist") {
		t.Errorf("plist header:\n%s", got)
	}
}

func TestLaunchdPlistRefuses(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		cfg  ServiceConfig
		want string
	}{
		{"no label", ServiceConfig{Executable: "/opt/orbit/bin/orbit/orbit"}, "label"},
		{"label with a slash", ServiceConfig{Name: "../x", Executable: "/opt/orbit/bin/orbit/orbit"}, "no '/'"},
		{"relative executable", ServiceConfig{Name: "x", Executable: "bin/orbit"}, "absolute"},
		{"newline in an argument", ServiceConfig{Name: "x", Executable: "/o", Args: []string{"a\nb"}}, "control character"},
	} {
		if _, err := LaunchdPlist(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one about %q", tt.name, err, tt.want)
		}
	}
}
