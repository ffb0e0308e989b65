package desktop

import (
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestSettingsFromEnv(t *testing.T) {
	t.Parallel()
	s, err := SettingsFromEnv(envOf(map[string]string{
		EnvFleetURL:               "https://fleet.example.com:8443/prefix",
		EnvIdentifierPath:         "/opt/orbit/identifier",
		EnvRootCA:                 "/opt/orbit/certs.pem",
		EnvInsecure:               "",
		EnvAlternativeBrowserHost: "fleet-browser.example.com:443",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if s.FleetURL.String() != "https://fleet.example.com:8443/prefix" || s.IdentifierPath != "/opt/orbit/identifier" ||
		s.RootCA != "/opt/orbit/certs.pem" || s.Insecure || s.AlternativeBrowserHost != "fleet-browser.example.com:443" ||
		s.PollInterval != DefaultPollInterval {
		t.Fatalf("settings = %+v", s)
	}
	if err := s.Validate(); err != nil {
		t.Fatalf("Validate of parsed settings: %v", err)
	}
	for _, v := range []string{"1", "true", "TRUE"} {
		s, err := SettingsFromEnv(envOf(map[string]string{EnvFleetURL: "https://f", EnvIdentifierPath: "/i", EnvInsecure: v}))
		if err != nil || !s.Insecure {
			t.Fatalf("%s=%q: %+v, %v", EnvInsecure, v, s, err)
		}
	}
	s, err = SettingsFromEnv(envOf(map[string]string{EnvFleetURL: "https://f", EnvIdentifierPath: "/i", EnvTestPollInterval: "200ms"}))
	if err != nil || s.PollInterval != 200*time.Millisecond {
		t.Fatalf("test poll interval: %+v, %v", s, err)
	}
}

// TestBadSettings: every bad value is named in one line that says what to do.
func TestBadSettings(t *testing.T) {
	t.Parallel()
	good := map[string]string{EnvFleetURL: "https://fleet.example.com", EnvIdentifierPath: "/opt/orbit/identifier"}
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"nothing set", map[string]string{}, []string{EnvFleetURL + " is not set", EnvIdentifierPath + " is not set"}},
		{"no url", map[string]string{EnvFleetURL: " ", EnvIdentifierPath: "/i"}, []string{EnvFleetURL + " is not set"}},
		{"not a url", map[string]string{EnvFleetURL: "https://[::1", EnvIdentifierPath: "/i"}, []string{"is not a URL"}},
		{"ftp", map[string]string{EnvFleetURL: "ftp://fleet", EnvIdentifierPath: "/i"}, []string{"must start with https://"}},
		{"no scheme", map[string]string{EnvFleetURL: "fleet.example.com", EnvIdentifierPath: "/i"}, []string{"must start with https://"}},
		{"no host", map[string]string{EnvFleetURL: "https:///x", EnvIdentifierPath: "/i"}, []string{"has no host"}},
		{"credentials", map[string]string{EnvFleetURL: "https://u:p@fleet", EnvIdentifierPath: "/i"}, []string{"must not hold credentials"}},
		{"query", map[string]string{EnvFleetURL: "https://fleet/?a=b", EnvIdentifierPath: "/i"}, []string{"query or fragment"}},
		{"relative identifier", map[string]string{EnvFleetURL: "https://f", EnvIdentifierPath: "identifier"}, []string{EnvIdentifierPath, "absolute path"}},
		{"relative ca", with(good, EnvRootCA, "certs.pem"), []string{EnvRootCA, "absolute path"}},
		{"insecure maybe", with(good, EnvInsecure, "maybe"), []string{EnvInsecure + `="maybe" is not a boolean`}},
		{"browser host with scheme", with(good, EnvAlternativeBrowserHost, "https://b.example.com"), []string{EnvAlternativeBrowserHost}},
		{"browser host with path", with(good, EnvAlternativeBrowserHost, "b.example.com/x"), []string{EnvAlternativeBrowserHost}},
		{"browser host with user", with(good, EnvAlternativeBrowserHost, "u@b.example.com"), []string{EnvAlternativeBrowserHost}},
		{"poll too short", with(good, EnvTestPollInterval, "1ms"), []string{EnvTestPollInterval}},
		{"poll too long", with(good, EnvTestPollInterval, "1m"), []string{EnvTestPollInterval}},
		{"poll not a duration", with(good, EnvTestPollInterval, "soon"), []string{EnvTestPollInterval}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := SettingsFromEnv(envOf(tt.env))
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Fatalf("error is not one line: %q", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Fatalf("error %q does not say %q", msg, w)
				}
			}
			if strings.Contains(msg, "u:p@") {
				t.Fatalf("error %q repeats the credentials", msg)
			}
		})
	}
}

func with(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for kk, vv := range m {
		if kk != k {
			out[kk] = vv
		}
	}
	return out
}
