// Package golden reads the project's golden files for tests: osqueryd's
// command line (testdata/osqueryd-argv.golden), so the tests that check it
// from both ends (the builder, orbit's real child, the stand-in that must
// accept it) agree on one spelling.
package golden

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orbitagent/orbit/internal/testbin"
)

// OsquerydArgv returns the arguments of the named sections of
// testdata/osqueryd-argv.golden, in the order asked, with each {key} of
// vars replaced by its value.
func OsquerydArgv(t testing.TB, vars map[string]string, sections ...string) []string {
	t.Helper()
	root, err := testbin.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(root, "testdata", "osqueryd-argv.golden"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bySection := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
		default:
			for k, v := range vars {
				line = strings.ReplaceAll(line, "{"+k+"}", v)
			}
			bySection[section] = append(bySection[section], line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range sections {
		args, ok := bySection[s]
		if !ok {
			t.Fatalf("osqueryd-argv.golden has no section [%s]", s)
		}
		out = append(out, args...)
	}
	for _, a := range out {
		if i := strings.Index(a, "{"); i >= 0 && strings.Contains(a[i:], "}") {
			t.Fatalf("golden argument %q has a placeholder with no value", a)
		}
	}
	return out
}
