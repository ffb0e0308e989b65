package main

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/orbitagent/orbit/osquery"
)

// flagKind is a gflags value type (from orbit's flag table): it decides
// how a value is checked and whether the flag can take "--noname".
type flagKind = osquery.FlagType

const (
	kindString = osquery.FlagString
	kindBool   = osquery.FlagBool
)

type flagDef struct {
	kind flagKind
	def  string
}

// flagSet holds the parsed values. Values are kept as strings (like the
// osquery_flags table shows them); typed getters convert.
type flagSet struct {
	// mu guards values and set: config "options" change flags at runtime.
	mu     sync.RWMutex
	values map[string]string
	set    map[string]bool // explicitly given on argv or in a flagfile
	args   []string        // positional arguments, in order

	// argv0 is matched against a flagfile's filename lines; env feeds
	// --fromenv and --tryfromenv.
	argv0 string
	env   []string
}

// flagError is a command-line error; main prints it and exits 1 like gflags.
type flagError struct{ msg string }

func (e *flagError) Error() string { return e.msg }

func newFlagSet() *flagSet {
	fs := &flagSet{values: map[string]string{}, set: map[string]bool{}, argv0: "osqueryd"}
	for name, d := range knownFlags {
		fs.values[name] = d.def
	}
	return fs
}

func (fs *flagSet) String(name string) string {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	return fs.values[name]
}

func (fs *flagSet) IsSet(name string) bool {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	return fs.set[name]
}

func (fs *flagSet) Bool(name string) bool { return fs.String(name) == "true" }

func (fs *flagSet) Int(name string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(fs.String(name)), 0, 64)
	return n
}

// sortedNames lists every known flag, for the osquery_flags table and --help.
func sortedNames() []string {
	names := make([]string, 0, len(knownFlags))
	for n := range knownFlags {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// lookup finds a flag; an alias (db_path, socket, ...) is the flag it sets.
func lookup(name string) (osquery.FlagDef, bool) { return osquery.LookupFlag(name) }

// assign sets a flag (an alias sets its flag) to a value of its type,
// stored as osqueryd shows it (booleans true/false, integers in decimal).
func (fs *flagSet) assign(name, value string) error {
	d, ok := lookup(name)
	if !ok {
		return &flagError{fmt.Sprintf("ERROR: unknown command line flag '%s'", name)}
	}
	v, err := d.ParseValue(value)
	if err != nil {
		return &flagError{fmt.Sprintf("ERROR: illegal value '%s' specified for %s flag '%s'", value, d.Type, name)}
	}
	fs.mu.Lock()
	fs.values[d.Name] = v
	fs.set[d.Name] = true
	fs.mu.Unlock()
	return nil
}

// flagParser is one gflags ParseCommandLineFlags: like gflags it goes on after
// an error and reports them all at the end, so --undefok can still forgive
// the unknown ones.
type flagParser struct {
	fs        *flagSet
	errs      map[string]string // flag name -> message
	undefined map[string]bool   // unknown names seen
}

const maxFlagfileDepth = 10

// parseArgs parses argv (without argv[0]) the way gflags does: flags may
// appear anywhere, "--" ends flag parsing, --flagfile, --fromenv and
// --tryfromenv are processed where they stand, so later flags win.
// Unknown flags and bad values on the command line are errors; in a
// flagfile, unknown flags and flags without a value are ignored, as gflags
// does (only a bad value there is an error).
func (fs *flagSet) parseArgs(args []string) error {
	p := &flagParser{fs: fs, errs: map[string]string{}, undefined: map[string]bool{}}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "" || arg[0] != '-' || arg == "-" {
			fs.args = append(fs.args, arg)
			continue
		}
		body := strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-")
		if body == "" { // "--" alone ends the flags
			fs.args = append(fs.args, args[i+1:]...)
			break
		}
		key, value, hasValue, msg := split(body)
		if msg != "" {
			p.fail(key, msg, true)
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				// gflags treats this as unrecoverable and stops parsing.
				p.fail(key, fmt.Sprintf("ERROR: flag '%s' is missing its argument", key), false)
				break
			}
			i++
			value = args[i]
		}
		p.set(key, value, 0)
	}
	return p.report()
}

// split is gflags' SplitArgumentLocked: "name[=value]", a bare boolean is
// true, "--noname" sets a boolean false (whatever follows "="). hasValue is
// false only for a non-boolean flag given without "=value".
func split(body string) (key, value string, hasValue bool, msg string) {
	key, value, hasValue = strings.Cut(body, "=")
	d, ok := lookup(key)
	if !ok {
		base, isNo := strings.CutPrefix(key, "no")
		bd, known := lookup(base)
		switch {
		case !isNo || !known:
			return key, "", false, fmt.Sprintf("ERROR: unknown command line flag '%s'", key)
		case bd.Type != kindBool:
			return key, "", false, fmt.Sprintf("ERROR: boolean value (--%s) specified for %s command line flag", key, bd.Type)
		}
		return base, "0", true, ""
	}
	if !hasValue && d.Type == kindBool {
		return key, "1", true, ""
	}
	return key, value, hasValue, ""
}

func (p *flagParser) fail(key, msg string, unknown bool) {
	if unknown && strings.HasPrefix(msg, "ERROR: unknown") {
		p.undefined[key] = true
	}
	p.errs[key] = msg
}

// set assigns a flag and runs the recursive ones.
func (p *flagParser) set(key, value string, depth int) {
	if err := p.fs.assign(key, value); err != nil {
		p.errs[key] = err.Error()
		return
	}
	d, _ := lookup(key)
	switch d.Name {
	case "flagfile":
		p.flagfile(value, depth+1)
	case "fromenv":
		p.fromEnv(value, true)
	case "tryfromenv":
		p.fromEnv(value, false)
	}
}

// report is gflags' ReportErrors: --undefok forgives unknown names (and
// their "no" forms); the remaining errors are printed together, by name.
func (p *flagParser) report() error {
	if ok := p.fs.String("undefok"); ok != "" {
		for _, name := range strings.Split(ok, ",") {
			if p.undefined[name] {
				delete(p.errs, name)
			} else if p.undefined["no"+name] {
				delete(p.errs, "no"+name)
			}
		}
	}
	if len(p.errs) == 0 {
		return nil
	}
	keys := make([]string, 0, len(p.errs))
	for k := range p.errs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	msgs := make([]string, 0, len(keys))
	for _, k := range keys {
		msgs = append(msgs, p.errs[k])
	}
	return &flagError{strings.Join(msgs, "\n")}
}

// flagList is gflags' ParseFlagList: comma-separated, no empty entry, no
// entry starting with '-' (gflags dies on both).
func (p *flagParser) flagList(flag, value string) ([]string, bool) {
	var out []string
	for _, item := range strings.Split(value, ",") {
		if item == "" || strings.HasPrefix(item, "-") {
			p.errs[flag] = fmt.Sprintf("ERROR: bad entry %q in --%s", item, flag)
			return nil, false
		}
		out = append(out, item)
	}
	return out, true
}

// flagfile reads each listed file; an empty value reads nothing.
func (p *flagParser) flagfile(list string, depth int) {
	if list == "" {
		return
	}
	if depth > maxFlagfileDepth {
		p.errs["flagfile"] = fmt.Sprintf("ERROR: flagfile nesting deeper than %d at '%s'", maxFlagfileDepth, list)
		return
	}
	files, ok := p.flagList("flagfile", list)
	if !ok {
		return
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			// gflags calls perror and exits at once.
			p.errs["flagfile"] = fmt.Sprintf("ERROR: cannot read flagfile '%s': %v", f, err)
			return
		}
		p.flagfileContent(string(b), depth)
	}
}

// flagfileContent is gflags' ProcessOptionsFromStringLocked: blanks before
// a line are skipped, the line runs to '\n' (a '\r' or trailing space stays
// in the value), '#' starts a comment, a line not starting with '-' lists
// program-name globs the following flags apply to.
func (p *flagParser) flagfileContent(content string, depth int) {
	relevant, inNames := true, false
	for rest := content; ; {
		rest = strings.TrimLeft(rest, " \t\n\v\f\r")
		if rest == "" {
			return
		}
		line := rest
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		switch {
		case line[0] == '#':
		case line[0] == '-':
			inNames = false
			if !relevant {
				continue
			}
			body := line[1:]
			body = strings.TrimPrefix(body, "-")
			key, value, hasValue, msg := split(body)
			if msg != "" || !hasValue {
				continue // gflags: "errors parsing flagfile lines are silently ignored"
			}
			p.set(key, value, depth)
		default:
			if !inNames {
				inNames, relevant = true, false
			}
			for _, glob := range strings.Split(line, " ") {
				if p.matchesProgram(glob) {
					relevant = true
				}
			}
		}
	}
}

func (p *flagParser) matchesProgram(glob string) bool {
	for _, name := range []string{p.fs.argv0, filepath.Base(p.fs.argv0)} {
		if glob == name {
			return true
		}
		if ok, _ := path.Match(glob, name); ok {
			return true
		}
	}
	return false
}

// fromEnv is --fromenv / --tryfromenv: each named flag is read from
// FLAGS_<name>; a missing variable is an error only for --fromenv.
func (p *flagParser) fromEnv(list string, mustExist bool) {
	if list == "" {
		return
	}
	flag := "tryfromenv"
	if mustExist {
		flag = "fromenv"
	}
	names, ok := p.flagList(flag, list)
	if !ok {
		return
	}
	for _, name := range names {
		if _, known := lookup(name); !known {
			p.errs[name] = fmt.Sprintf("ERROR: unknown command line flag '%s' (via --fromenv or --tryfromenv)", name)
			p.undefined[name] = true
			continue
		}
		v, found := envValue(p.fs.env, "FLAGS_"+name)
		if !found {
			if mustExist {
				p.errs[name] = fmt.Sprintf("ERROR: FLAGS_%s not found in environment", name)
			}
			continue
		}
		if v == "fromenv" || v == "tryfromenv" {
			p.errs[name] = fmt.Sprintf("ERROR: infinite recursion on environment flag '%s'", v)
			continue
		}
		p.set(name, v, 0)
	}
}

func envValue(env []string, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}
