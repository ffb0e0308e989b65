package component

import (
	"strings"
	"testing"
)

func TestValidateChannel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ch   string
		want string // "" is valid
	}{
		{"stable", ""},
		{"edge", ""},
		{"5.12.1", ""},
		{"1.x_beta-2", ""},
		{"", "empty"},
		{".", "starts with a dot"},
		{"..", "starts with a dot"},
		{".hidden", "starts with a dot"},
		{"../x", "starts with a dot"},
		{"a/b", "not '/'"},
		{`a\b`, `not '\\'`},
		{"has space", "not ' '"},
		{"tab\t", "not '\\t'"},
		{strings.Repeat("a", 65), "longer than 64"},
	} {
		err := ValidateChannel(tc.ch)
		if tc.want == "" {
			if err != nil {
				t.Errorf("ValidateChannel(%q) = %v, want nil", tc.ch, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "is not a channel name") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ValidateChannel(%q) = %v, want a channel error mentioning %q", tc.ch, err, tc.want)
		}
	}
}

func TestNameValidate(t *testing.T) {
	t.Parallel()
	for _, n := range []Name{Orbit, Osqueryd, Desktop, Extension("hello_world"), "extensions/santa-1.2"} {
		if err := n.Validate(); err != nil {
			t.Errorf("%q: %v", n, err)
		}
	}
	for _, n := range []Name{"", "osquery", "Orbit", "extensions/", "extensions/../x", "extensions/a/b", "../orbit", "bin"} {
		if err := n.Validate(); err == nil {
			t.Errorf("%q accepted", n)
		}
	}
}
