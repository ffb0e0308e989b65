package flagdoc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

func testApp() *cli.App {
	shared := []cli.Flag{
		&cli.StringFlag{Name: "root-dir", Value: "/opt/x", EnvVars: []string{"X_ROOT_DIR"}, Usage: "files go to <root>/bin | here"},
		&cli.BoolFlag{Name: "quiet", Usage: "say less"},
	}
	return &cli.App{
		Name: "x", Usage: "do x", ArgsUsage: "[-- more]", Flags: shared,
		Commands: []*cli.Command{
			{Name: "install", Usage: "install x", Flags: shared},
			{Name: "version", Usage: "print the version"},
			{Name: "hidden", Hidden: true, Flags: []cli.Flag{&cli.BoolFlag{Name: "secret-switch"}}},
			{Name: "repo", Usage: "manage the repository", Subcommands: []*cli.Command{{
				Name: "add", Usage: "add a file", ArgsUsage: "FILE",
				Flags: []cli.Flag{
					&cli.StringSliceFlag{Name: "tag", Aliases: []string{"t"}, Required: true, Usage: "channel (repeat)"},
					&cli.DurationFlag{Name: "every", Value: 90 * time.Second, Usage: "how often"},
					&cli.IntFlag{Name: "keys", Value: 3, Usage: "how many"},
					&cli.BoolFlag{Name: "skip", Value: true, Usage: "skip the same"},
					&cli.StringFlag{Name: "debug-dir", Hidden: true, Usage: "tests only"},
				},
			}}},
		},
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	got := Render(testApp())
	for _, want := range []string{
		"## x\n\nDo x.\n\n```\nx [flags] [-- more]\n```\n",
		"| `--root-dir` | `X_ROOT_DIR` | text | `/opt/x` | files go to &lt;root&gt;/bin \\| here |",
		"| `--quiet` | none | bool | `false` | say less |",
		"### x install\n\nInstall x.\n\nThe same flags as `x` (above).\n",
		"### x repo\n\nManage the repository.\n\n### x repo add\n\nAdd a file.\n\n```\nx repo add [flags] FILE\n```\n",
		"| `--tag`, `-t` | none | text, repeatable | required | channel (repeat) |",
		"| `--every` | none | duration | `1m30s` | how often |",
		"| `--keys` | none | integer | `3` | how many |",
		"| `--skip` | none | bool | `true` | skip the same |",
		"Hidden from `--help` (for tests; not a stable interface):\n\n| flag | variable | type | default | meaning |\n|---|---|---|---|---|\n| `--debug-dir` | none | text | none | tests only |\n",
		"Commands without flags: `x version`.\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Render lacks\n%s\nin\n%s", want, got)
		}
	}
	if strings.Contains(got, "secret-switch") {
		t.Error("a hidden command's flags were rendered")
	}
}

// A section is replaced in place; the other sections are kept as they
// are, and a file with a stale or missing part is reported as different.
func TestRegenerated(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "flags.md")
	cur, want, err := Regenerated(path, "orbit", "A\n")
	if err != nil || cur != "" || !strings.Contains(want, "<!-- begin orbit -->\nA\n<!-- end orbit -->\n") ||
		!strings.Contains(want, "<!-- begin orbitctl -->\n(not generated yet: run `make flags-doc`)\n") {
		t.Fatalf("from no file: cur %q, want %q, err %v", cur, want, err)
	}
	full := Assemble(map[string]string{"orbit": "A\n", "orbitctl": "B\n"})
	if err := os.WriteFile(path, []byte(full), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		section, body string
		same          bool
	}{
		{"orbit", "A\n", true},
		{"orbitctl", "B\n", true},
		{"orbit", "A changed\n", false},
		{"orbitctl", "", false},
	} {
		cur, want, err := Regenerated(path, tc.section, tc.body)
		if err != nil {
			t.Fatal(err)
		}
		if (cur == want) != tc.same {
			t.Errorf("section %s body %q: same = %v, want %v\n%s", tc.section, tc.body, cur == want, tc.same, FirstDifference(cur, want))
		}
	}
	// A hand edit outside the sections is not what the generator writes.
	if err := os.WriteFile(path, []byte(strings.Replace(full, "# Flag reference", "# Flags", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if cur, want, _ := Regenerated(path, "orbit", "A\n"); cur == want {
		t.Error("an edited header was not reported")
	}
	if _, _, err := Regenerated(path, "nope", ""); err == nil {
		t.Error("an unknown section was accepted")
	}
}
