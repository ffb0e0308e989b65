// Package flagdoc writes docs/flags.md, the flag reference, from the CLI
// definitions themselves (urfave/cli's []cli.Flag of each command), so the
// reference cannot drift from the code.
//
// orbit and orbitctl are both package main, which nothing can import, so
// each renders its own section of the file in a test of its package
// (TestFlagsDoc in cmd/orbit and cmd/orbitctl) and Check compares the
// whole file with what it would be with that section regenerated. `make
// flags-doc` runs those tests with UpdateEnv=1, which writes the file
// instead.
package flagdoc

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/orbitagent/orbit/internal/safefile"
	"github.com/orbitagent/orbit/internal/testbin"
)

// File is the reference, relative to the module root.
const File = "docs/flags.md"

// UpdateEnv set to 1 makes Check write the file instead of comparing it.
const UpdateEnv = "ORBIT_UPDATE_FLAGS_DOC"

// Regenerate is the command that rewrites the file.
const Regenerate = "make flags-doc"

// Sections are the file's generated parts, in order, each owned by the
// test of one main package.
var Sections = []string{"orbit", "orbitctl"}

const header = `<!-- Generated from the CLI definitions by ` + "`" + Regenerate + "`" + ` (internal/flagdoc): do not edit by hand. -->
# Flag reference

Every flag of ` + "`orbit`" + ` and ` + "`orbitctl`" + `, written from the flag definitions in
` + "`cmd/orbit`" + ` and ` + "`cmd/orbitctl`" + ` by ` + "`" + Regenerate + "`" + `; ` + "`make test`" + ` fails when this file
differs from what they give. Defaults are Linux's (on Windows ` + "`--root-dir`" + `
defaults to ` + "`C:\\Program Files\\Orbit`" + `). A flag's environment variable is used
when the flag is not given. ` + "`--help`" + ` (and ` + "`--version`" + ` on the programs) are
urfave/cli's own. Durations are Go durations (` + "`90s`, `15m`, `1h30m`" + `).

Variables that are not flags: ` + "`orbitctl updates`" + ` reads each key's passphrase from
` + "`ORBIT_<ROLE>_PASSPHRASE` (or Fleet's `FLEET_<ROLE>_PASSPHRASE`), ROLE one of" + `
` + "`ROOT`, `TARGETS`, `SNAPSHOT`, `TIMESTAMP`" + `, else asks on the terminal;
` + "`orbitctl package`" + ` reads ` + "`ORBIT_SIGN_PASSPHRASE`" + ` (the ` + "`--sign-key`" + ` passphrase) and
` + "`SOURCE_DATE_EPOCH`" + ` (the time stamped into the package);
` + "`orbit service`" + ` reads ` + "`ORBIT_SERVICE_NAME`" + ` (the service's name) and
` + "`ORBIT_SERVICE_SYSTEM`" + ` (a service system by name, such as ` + "`linux-systemd`" + ` in an image
build where systemd is not running); ` + "`orbit`" + ` honours
` + "`GOMEMLIMIT`" + ` and the proxy variables ` + "`HTTPS_PROXY`/`NO_PROXY`" + `.

`

// Render is the markdown of app's flags: one part for the program and one
// for each command below it that has flags, in the order --help lists
// them; commands without flags are named at the end.
func Render(app *cli.App) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## %s\n\n%s.\n\n", app.Name, sentence(app.Usage))
	var bare []string
	if len(app.Flags) > 0 {
		usage := app.Name + " [flags]"
		if app.ArgsUsage != "" {
			usage += " " + app.ArgsUsage
		}
		writeFlags(&b, usage, app.Flags)
	}
	var walk func(path string, cmds []*cli.Command)
	walk = func(path string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Hidden {
				continue
			}
			name := path + " " + c.Name
			if len(c.Flags) == 0 && len(c.Subcommands) == 0 {
				bare = append(bare, "`"+name+"`")
			}
			if len(c.Flags) > 0 || len(c.Subcommands) > 0 {
				fmt.Fprintf(&b, "### %s\n\n%s.\n\n", name, sentence(c.Usage))
			}
			if len(c.Flags) > 0 {
				if sameFlags(c.Flags, app.Flags) {
					fmt.Fprintf(&b, "The same flags as `%s` (above).\n\n", app.Name)
				} else {
					usage := name + " [flags]"
					if a := strings.TrimSpace(c.ArgsUsage); a != "" {
						usage += " " + a
					}
					writeFlags(&b, usage, c.Flags)
				}
			}
			walk(name, c.Subcommands)
		}
	}
	walk(app.Name, app.Commands)
	if len(bare) > 0 {
		fmt.Fprintf(&b, "Commands without flags: %s.\n\n", strings.Join(bare, ", "))
	}
	return b.String()
}

func sentence(s string) string {
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	if s == "" {
		return s
	}
	return escape(strings.ToUpper(s[:1]) + s[1:])
}

// sameFlags says whether a command takes exactly the program's flags
// (`orbit service install` takes orbit's, to write them into the service).
func sameFlags(a, b []cli.Flag) bool {
	if len(a) != len(b) || len(a) == 0 {
		return false
	}
	for i := range a {
		if row(a[i]) != row(b[i]) {
			return false
		}
	}
	return true
}

func writeFlags(b *strings.Builder, usage string, flags []cli.Flag) {
	fmt.Fprintf(b, "```\n%s\n```\n\n", usage)
	var shown, hidden []string
	for _, f := range flags {
		if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
			hidden = append(hidden, row(f))
			continue
		}
		shown = append(shown, row(f))
	}
	table := func(rows []string) {
		b.WriteString("| flag | variable | type | default | meaning |\n|---|---|---|---|---|\n")
		for _, r := range rows {
			b.WriteString(r + "\n")
		}
		b.WriteString("\n")
	}
	table(shown)
	if len(hidden) > 0 {
		b.WriteString("Hidden from `--help` (for tests; not a stable interface):\n\n")
		table(hidden)
	}
}

// row is one flag's line of the table.
func row(f cli.Flag) string {
	var names []string
	for i, n := range f.Names() {
		dash := "--"
		if i > 0 && len(n) == 1 {
			dash = "-"
		}
		names = append(names, "`"+dash+n+"`")
	}
	var env []string
	usage, def, typ := "", "", "text"
	if d, ok := f.(cli.DocGenerationFlag); ok {
		for _, e := range d.GetEnvVars() {
			env = append(env, "`"+e+"`")
		}
		usage = d.GetUsage()
		def = d.GetValue()
	}
	switch f := f.(type) {
	case *cli.BoolFlag:
		typ, def = "bool", fmt.Sprint(f.Value)
	case *cli.DurationFlag:
		typ = "duration"
	case *cli.IntFlag:
		typ = "integer"
	case *cli.StringSliceFlag:
		typ = "text, repeatable"
		if f.Value != nil {
			def = strings.Join(f.Value.Value(), ", ")
		}
	}
	if r, ok := f.(cli.RequiredFlag); ok && r.IsRequired() {
		def = "required"
	} else if def == "" {
		def = "none"
	} else {
		def = "`" + def + "`"
	}
	if len(env) == 0 {
		env = []string{"none"}
	}
	return fmt.Sprintf("| %s | %s | %s | %s | %s |", strings.Join(names, ", "), strings.Join(env, ", "), typ, def, escape(usage))
}

// escape keeps a usage text as text in a markdown table cell.
func escape(s string) string {
	return strings.NewReplacer(`\`, `\\`, "|", `\|`, "<", "&lt;", ">", "&gt;", "*", `\*`).Replace(s)
}

const (
	beginMark = "<!-- begin %s -->\n"
	endMark   = "<!-- end %s -->\n"
)

// Assemble is the whole file from its sections' bodies (a missing one is
// written as stale, so that its package's test says to regenerate).
func Assemble(bodies map[string]string) string {
	var b strings.Builder
	b.WriteString(header)
	for _, s := range Sections {
		body, ok := bodies[s]
		if !ok {
			body = "(not generated yet: run `" + Regenerate + "`)\n"
		}
		fmt.Fprintf(&b, beginMark, s)
		b.WriteString(body)
		fmt.Fprintf(&b, endMark, s)
	}
	return b.String()
}

// parse splits the file into its sections' bodies; what is not a whole
// section is dropped (Assemble writes the header afresh).
func parse(data string) map[string]string {
	out := map[string]string{}
	for _, s := range Sections {
		begin, end := fmt.Sprintf(beginMark, s), fmt.Sprintf(endMark, s)
		i := strings.Index(data, begin)
		if i < 0 {
			continue
		}
		rest := data[i+len(begin):]
		j := strings.Index(rest, end)
		if j < 0 {
			continue
		}
		out[s] = rest[:j]
	}
	return out
}

// Regenerated reads the file at path and returns it (empty when missing)
// and what it is with section regenerated as body.
func Regenerated(path, section, body string) (cur, want string, err error) {
	if !slices.Contains(Sections, section) {
		return "", "", fmt.Errorf("flagdoc: unknown section %q (Sections: %v)", section, Sections)
	}
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return "", "", err
	}
	bodies := parse(string(data))
	bodies[section] = body
	return string(data), Assemble(bodies), nil
}

// Check compares docs/flags.md with the file that has section regenerated
// as body, and fails the test with the command that regenerates it. With
// UpdateEnv=1 it writes that file instead.
func Check(t testing.TB, section, body string) {
	t.Helper()
	root, err := testbin.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, File)
	cur, want, err := Regenerated(path, section, body)
	if err != nil {
		t.Fatal(err)
	}
	if cur == want {
		return
	}
	if os.Getenv(UpdateEnv) == "1" {
		if err := safefile.WriteAtomic(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (section %s)", File, section)
		return
	}
	t.Errorf("%s is not what the flag definitions give (section %s): run `%s` and commit the file\n%s",
		File, section, Regenerate, FirstDifference(cur, want))
}

// FirstDifference shows the first line that differs, for a failure.
func FirstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d\n  file:      %q\n  generated: %q", i+1, gl, wl)
		}
	}
	return ""
}
