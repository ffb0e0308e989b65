// Package testdir makes the temporary directories tests need that
// t.TempDir cannot give: a short path, for Unix sockets (sun_path holds
// about 104 bytes, and t.TempDir's paths carry the test's name), and one
// every user may reach, for programs a test runs as another user
// (t.TempDir's parent is 0700).
package testdir

import (
	"os"
	"testing"
)

// Short is a new directory with a short path, removed at the end of the
// test: a socket, or a root holding osqueryd's extension socket, fits in it.
func Short(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "o")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// Shared is Short with mode 0755: what a test hands a program it runs as
// another user (a binary, a CA bundle) must be reachable by them.
func Shared(t testing.TB) string {
	t.Helper()
	d := Short(t)
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}
