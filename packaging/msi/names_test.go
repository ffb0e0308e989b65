package msi

import (
	"strings"
	"testing"
)

func TestServiceArguments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--debug"}, `--debug`},
		{[]string{"--root-dir=" + InstallDir}, `"--root-dir=[INSTALLDIR]."`},
		{[]string{"--log-file=" + InstallDir + `logs\orbit.log`}, `"--log-file=[INSTALLDIR]logs\orbit.log"`},
		{[]string{"two words", `say "hi"`, ""}, `"two words" "say \"hi\"" ""`},
		{[]string{`C:\dir with space\`}, `"C:\dir with space\\"`},
		{[]string{"--x=[PROPERTY]{y}"}, `--x=[\[]PROPERTY[\]][\{]y[\}]`},
	}
	for _, tt := range tests {
		if got := serviceArguments(tt.args); got != tt.want {
			t.Errorf("serviceArguments(%q) = %s, want %s", tt.args, got, tt.want)
		}
	}
}

func TestProductVersion(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want, err string }{
		{"1.2.3", "1.2.3", ""},
		{"v1.2.3", "1.2.3", ""},
		{"0.1.0-dev", "0.1.0", ""},
		{"1.2.3+abc", "1.2.3", ""},
		{"2", "2.0.0", ""},
		{"255.255.65535", "255.255.65535", ""},
		{"256.0.0", "", "at most 255"},
		{"1.2.65536", "", "at most 65535"},
		{"1.2.3.4", "", "major.minor.patch"},
		{"1..3", "", "major.minor.patch"},
		{"", "", "major.minor.patch"},
		{"one", "", "major.minor.patch"},
	}
	for _, tt := range tests {
		got, err := productVersion(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("productVersion(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("productVersion(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestMSIName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"orbit.exe":           "orbit.exe",
		"bin":                 "bin",
		"bin/orbit/orbit.exe": "orbit.exe",
		"secret.txt":          "secret.txt",
	} {
		if got := msiName(in); got != want {
			t.Errorf("msiName(%q) = %q, want %q", in, got, want)
		}
	}
	long := msiName("bin/desktop/fleet-desktop.exe")
	short, name, ok := strings.Cut(long, "|")
	if !ok || name != "fleet-desktop.exe" || !shortNameRe.MatchString(short) || !strings.HasSuffix(short, ".exe") {
		t.Errorf("msiName(fleet-desktop.exe) = %q, want a valid 8.3 name|fleet-desktop.exe", long)
	}
	if other := msiName("bin/other/fleet-desktop.exe"); other == long {
		t.Errorf("two paths share the short name %q", other)
	}
	if got := msiName("Orbit Agent"); !strings.HasSuffix(got, "|Orbit Agent") || strings.Contains(strings.Split(got, "|")[0], " ") {
		t.Errorf("msiName(Orbit Agent) = %q", got)
	}
}

func TestUpgradeCodeIsStable(t *testing.T) {
	t.Parallel()
	// The UpgradeCode must never change for an identifier: installed hosts
	// find the old product by it. This value is what shipped first.
	if got, want := UpgradeCode("com.example.orbit"), "{BBBF58B2-0982-5C0D-AEC0-535E4D3C3863}"; got != want {
		t.Errorf("UpgradeCode(com.example.orbit) = %s, want %s", got, want)
	}
	if UpgradeCode("com.example.orbit") == UpgradeCode("com.example.other") {
		t.Error("two identifiers share an UpgradeCode")
	}
}
