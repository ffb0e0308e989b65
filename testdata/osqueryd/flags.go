package main

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// flagKind mirrors the gflags value types osquery uses; the kind decides how
// a value is validated and whether the flag can take "--noname".
type flagKind int

const (
	kindString flagKind = iota
	kindBool
	kindInt32
	kindUint32
	kindUint64
)

func (k flagKind) String() string {
	switch k {
	case kindBool:
		return "bool"
	case kindInt32:
		return "int32"
	case kindUint32:
		return "uint32"
	case kindUint64:
		return "uint64"
	default:
		return "string"
	}
}

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
}

// flagError is a command-line error; main prints it and exits 1 like gflags.
type flagError struct{ msg string }

func (e *flagError) Error() string { return e.msg }

func newFlagSet() *flagSet {
	fs := &flagSet{values: map[string]string{}, set: map[string]bool{}}
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

func (fs *flagSet) Bool(name string) bool {
	b, _ := parseBool(fs.String(name))
	return b
}

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

// parseBool accepts what gflags accepts.
func parseBool(v string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "t", "yes", "y", "1":
		return true, true
	case "false", "f", "no", "n", "0":
		return false, true
	}
	return false, false
}

func (fs *flagSet) assign(name, value string) error {
	d, ok := knownFlags[name]
	if !ok {
		return &flagError{fmt.Sprintf("ERROR: unknown command line flag '%s'", name)}
	}
	switch d.kind {
	case kindBool:
		b, ok := parseBool(value)
		if !ok {
			return &flagError{fmt.Sprintf("ERROR: illegal value '%s' specified for bool flag '%s'", value, name)}
		}
		value = strconv.FormatBool(b)
	case kindInt32:
		if _, err := strconv.ParseInt(value, 0, 32); err != nil {
			return &flagError{fmt.Sprintf("ERROR: illegal value '%s' specified for int32 flag '%s'", value, name)}
		}
	case kindUint32:
		if _, err := strconv.ParseUint(value, 0, 32); err != nil {
			return &flagError{fmt.Sprintf("ERROR: illegal value '%s' specified for uint32 flag '%s'", value, name)}
		}
	case kindUint64:
		if _, err := strconv.ParseUint(value, 0, 64); err != nil {
			return &flagError{fmt.Sprintf("ERROR: illegal value '%s' specified for uint64 flag '%s'", value, name)}
		}
	}
	fs.mu.Lock()
	fs.values[name] = value
	fs.set[name] = true
	fs.mu.Unlock()
	return nil
}

// parseArgs parses argv (without argv[0]) the way gflags does: flags may
// appear anywhere, "--" ends flag parsing, "--flagfile" is expanded in place
// so later flags win.
func (fs *flagSet) parseArgs(args []string) error {
	return fs.parseList(args, true, 0)
}

const maxFlagfileDepth = 10

func (fs *flagSet) parseList(args []string, cmdline bool, depth int) error {
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if cmdline && arg == "--" {
			fs.args = append(fs.args, args[i+1:]...)
			return nil
		}
		if len(arg) < 2 || arg[0] != '-' {
			if cmdline {
				fs.args = append(fs.args, arg)
			}
			continue
		}
		body := strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-")
		name, value, hasValue := strings.Cut(body, "=")
		d, known := knownFlags[name]
		if !known {
			// "--noverbose" negates a boolean flag.
			if base, ok := strings.CutPrefix(name, "no"); ok {
				if bd, bk := knownFlags[base]; bk {
					if bd.kind != kindBool {
						return &flagError{fmt.Sprintf("ERROR: boolean value (%s) specified for %s command line flag", arg, bd.kind)}
					}
					if hasValue {
						return &flagError{fmt.Sprintf("ERROR: illegal value '%s' specified for bool flag '%s'", value, base)}
					}
					if err := fs.assign(base, "false"); err != nil {
						return err
					}
					continue
				}
			}
			return &flagError{fmt.Sprintf("ERROR: unknown command line flag '%s'", name)}
		}
		if !hasValue {
			if d.kind == kindBool {
				value = "true"
			} else {
				// A flagfile line is exactly one flag: no separate value.
				if !cmdline || i+1 >= len(args) {
					return &flagError{fmt.Sprintf("ERROR: flag '%s' is missing its argument", name)}
				}
				i++
				value = args[i]
			}
		}
		if name == "flagfile" {
			if err := fs.assign(name, value); err != nil {
				return err
			}
			if err := fs.parseFlagfile(value, depth+1); err != nil {
				return err
			}
			continue
		}
		if err := fs.assign(name, value); err != nil {
			return err
		}
	}
	return nil
}

// parseFlagfile reads one flag per line; '#' starts a comment line, blank
// lines are skipped, surrounding whitespace is trimmed (as gflags does).
func (fs *flagSet) parseFlagfile(path string, depth int) error {
	if depth > maxFlagfileDepth {
		return &flagError{fmt.Sprintf("ERROR: flagfile nesting deeper than %d at '%s'", maxFlagfileDepth, path)}
	}
	f, err := os.Open(path)
	if err != nil {
		return &flagError{fmt.Sprintf("ERROR: cannot read flagfile '%s': %v", path, err)}
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.HasPrefix(line, "-") {
			// gflags treats such lines as filename filters; osquery never
			// uses them, so ignoring matches its behaviour.
			continue
		}
		lines = append(lines, line)
	}
	if err := sc.Err(); err != nil {
		return &flagError{fmt.Sprintf("ERROR: cannot read flagfile '%s': %v", path, err)}
	}
	return fs.parseList(lines, false, depth)
}
