package osquery

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/rootdir"
)

func TestRunnerBuildsEachStartFromTheFilesAsTheyAre(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	l := rootdir.Layout{Root: root}
	path := "/opt/orbit/bin/osqueryd/linux/stable/osqueryd"
	r, err := NewRunner(RunnerConfig{Flags: FlagOptions{Layout: l, FleetURL: "https://fleet.example.com"},
		Path: func() (string, error) { return path, nil }, EnrollSecret: "s3cret", Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Before the first start the flagfile and the list exist, empty.
	if err := r.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{l.OsqueryFlags(), l.ExtensionsAutoload()} {
		if b, err := os.ReadFile(f); err != nil || len(b) != 0 {
			t.Fatalf("%s: %q %v, want an empty file", f, b, err)
		}
	}
	c, err := r.Command(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != path || c.Dir != root || !slices.Contains(c.Args, "--flagfile="+l.OsqueryFlags()) || !slices.Contains(c.Args, "--extensions_autoload=") {
		t.Fatalf("first command %+v", c)
	}
	if !slices.Contains(c.Env, "ENROLL_SECRET=s3cret") || slices.ContainsFunc(c.Args, func(a string) bool { return strings.Contains(a, "s3cret") }) {
		t.Fatalf("the secret goes in the environment only: %+v", c)
	}
	// An extension installed meanwhile is on the next start's command line.
	ext := filepath.Join(root, "bin", "extensions", "hello", "linux", "stable", "hello.ext")
	if _, err := WriteAutoload(l.ExtensionsAutoload(), []string{ext}); err != nil {
		t.Fatal(err)
	}
	c, err = r.Command(ctx)
	if err != nil || !slices.Contains(c.Args, "--extensions_autoload="+l.ExtensionsAutoload()) {
		t.Fatalf("after an install: %q %v", c.Args, err)
	}
	// An existing flagfile is left as it is.
	if err := os.WriteFile(l.OsqueryFlags(), []byte("--verbose=true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(l.OsqueryFlags()); string(b) != "--verbose=true\n" {
		t.Fatalf("Prepare changed the flagfile: %q", b)
	}
}

func TestRunnerRefusesBadConfig(t *testing.T) {
	t.Parallel()
	l := rootdir.Layout{Root: "/opt/orbit"}
	path := func() (string, error) { return "/x", nil }
	for _, tc := range []struct {
		name string
		cfg  RunnerConfig
		want string
	}{
		{"no path", RunnerConfig{Flags: FlagOptions{Layout: l}}, "path function"},
		{"fleet without secret", RunnerConfig{Flags: FlagOptions{Layout: l, FleetURL: "https://f"}, Path: path}, "enroll secret"},
		{"bad flags", RunnerConfig{Flags: FlagOptions{Layout: l, ExtraArgs: []string{"--nope"}}, Path: path}, "after --"},
	} {
		if _, err := NewRunner(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	r, err := NewRunner(RunnerConfig{Flags: FlagOptions{Layout: l}, Path: func() (string, error) { return "", errors.New("not installed") }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Command(context.Background()); err == nil || !strings.Contains(err.Error(), "not installed") {
		t.Fatalf("Command without a binary: %v", err)
	}
}
