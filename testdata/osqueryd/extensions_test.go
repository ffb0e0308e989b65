package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/internal/testdir"
)

func TestExtensionsAutoload(t *testing.T) {
	t.Parallel()
	sh := testbin.NeedTool(t, "sh")
	dir := testdir.Short(t)
	out := filepath.Join(dir, "ext.out")
	ext := filepath.Join(dir, "hello.ext")
	script := "#!" + sh + "\n" +
		"echo \"$@\" > " + out + "\n" +
		"trap 'echo stopped >> " + out + "; exit 0' TERM\n" +
		"while :; do sleep 0.05; done\n"
	if err := os.WriteFile(ext, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	notExt := filepath.Join(dir, "hello.sh")
	if err := os.WriteFile(notExt, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	load := writeFile(t, filepath.Join(dir, "extensions.load"), "# autoload\n"+ext+"\n"+notExt+"\n")
	sock := filepath.Join(dir, "o.em")
	p := startDaemon(t, standin, nil, "--extensions_socket="+sock, "--extensions_autoload="+load,
		"--extensions_timeout=7", "--pidfile="+filepath.Join(dir, "osquery.pid"))
	want := "--socket " + sock + " --timeout 7 --interval 3"
	waitFor(t, p, "extension start", func() bool {
		b, _ := os.ReadFile(out)
		return strings.TrimSpace(string(b)) == want
	})
	// The list is read in order: the warning for the second entry may come
	// just after the first extension started.
	waitFor(t, p, "warning for the non-.ext file", func() bool {
		return strings.Contains(p.stderr.String(), "does not end with .ext")
	})
	p.stop(t)
	// The daemon waits for its extensions to stop before it exits.
	b, _ := os.ReadFile(out)
	if !strings.Contains(string(b), "stopped") {
		t.Fatalf("extension was not stopped with the daemon: %q", b)
	}
}
