package osquery

import (
	_ "embed"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// flagdefsTSV is every flag osqueryd's gflags registry holds: osquery's own
// (extracted from its source), gflags' and glog's, and the aliases. It is
// data, not code, so a newer osquery is a new extraction, not a code review.
//
//go:embed flagdefs.tsv
var flagdefsTSV string

// FlagType is a gflags value type; it decides which values osqueryd accepts.
type FlagType uint8

// The gflags types osquery uses.
const (
	FlagString FlagType = iota
	FlagBool
	FlagInt32
	FlagUint32
	FlagUint64
)

func (t FlagType) String() string {
	switch t {
	case FlagBool:
		return "bool"
	case FlagInt32:
		return "int32"
	case FlagUint32:
		return "uint32"
	case FlagUint64:
		return "uint64"
	default:
		return "string"
	}
}

func parseFlagType(s string) (FlagType, bool) {
	for _, t := range []FlagType{FlagString, FlagBool, FlagInt32, FlagUint32, FlagUint64} {
		if t.String() == s {
			return t, true
		}
	}
	return 0, false
}

// FlagDef describes one flag osqueryd defines.
type FlagDef struct {
	// Name is the flag's own name. LookupFlag of an alias returns the flag
	// the alias sets, so Name is never an alias.
	Name string
	Type FlagType
	// Macro says who defines it: osquery's FLAG, CLI_FLAG, HIDDEN_FLAG or
	// SHELL_FLAG, or GFLAGS and GLOG for the libraries' own flags.
	Macro string
	// Source is the file that defines it.
	Source string
}

type flagTable struct {
	flags   map[string]FlagDef
	aliases map[string]string // alias -> flag name
	sorted  []FlagDef
}

// loadFlagTable parses the embedded table once. A broken table (caught by
// the package tests) leaves every flag unknown, which drops every server
// flag rather than writing unchecked ones.
var loadFlagTable = sync.OnceValues(func() (*flagTable, error) { return parseFlagTable(flagdefsTSV) })

func parseFlagTable(data string) (*flagTable, error) {
	t := &flagTable{flags: map[string]FlagDef{}, aliases: map[string]string{}}
	var errs []error
	pending := map[string]string{} // alias -> target, checked once all flags are read
	for i, line := range strings.Split(data, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			errs = append(errs, fmt.Errorf("flagdefs.tsv line %d: want 4 tab-separated fields, got %d", i+1, len(f)))
			continue
		}
		name, typ, macro, src := f[0], f[1], f[2], f[3]
		if !validTableName(name) {
			errs = append(errs, fmt.Errorf("flagdefs.tsv line %d: bad flag name %q", i+1, name))
			continue
		}
		if _, dup := t.flags[name]; dup {
			errs = append(errs, fmt.Errorf("flagdefs.tsv line %d: flag %q defined twice", i+1, name))
			continue
		}
		if _, dup := pending[name]; dup {
			errs = append(errs, fmt.Errorf("flagdefs.tsv line %d: alias %q defined twice", i+1, name))
			continue
		}
		if target, ok := strings.CutPrefix(typ, "alias of "); ok {
			pending[name] = target
			continue
		}
		ft, ok := parseFlagType(typ)
		if !ok {
			errs = append(errs, fmt.Errorf("flagdefs.tsv line %d: flag %q has unknown type %q", i+1, name, typ))
			continue
		}
		t.flags[name] = FlagDef{Name: name, Type: ft, Macro: macro, Source: src}
	}
	for alias, target := range pending {
		switch _, isFlag := t.flags[alias]; {
		case isFlag:
			errs = append(errs, fmt.Errorf("flagdefs.tsv: %q is both a flag and an alias", alias))
		case t.flags[target].Name == "":
			errs = append(errs, fmt.Errorf("flagdefs.tsv: alias %q names %q, which is not a flag", alias, target))
		default:
			t.aliases[alias] = target
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for _, d := range t.flags {
		t.sorted = append(t.sorted, d)
	}
	sort.Slice(t.sorted, func(i, j int) bool { return t.sorted[i].Name < t.sorted[j].Name })
	return t, nil
}

// validTableName accepts gflags names as osquery writes them; upper case
// only occurs in the shell switches (S, D, A, L).
func validTableName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// LookupFlag finds a flag osqueryd defines. An alias (db_path, socket, ...)
// resolves to the flag it sets, as gflags does: both share one value.
func LookupFlag(name string) (FlagDef, bool) {
	t, err := loadFlagTable()
	if err != nil {
		return FlagDef{}, false
	}
	if target, ok := t.aliases[name]; ok {
		name = target
	}
	d, ok := t.flags[name]
	return d, ok
}

// AllFlags lists every flag osqueryd defines (aliases excluded), by name.
func AllFlags() []FlagDef {
	t, err := loadFlagTable()
	if err != nil {
		return nil
	}
	return append([]FlagDef(nil), t.sorted...)
}

// FlagAliases maps each alias to the flag it sets.
func FlagAliases() map[string]string {
	t, err := loadFlagTable()
	if err != nil {
		return nil
	}
	out := make(map[string]string, len(t.aliases))
	for a, n := range t.aliases {
		out[a] = n
	}
	return out
}

// ErrBadFlagValue is wrapped by every refusal of a value for its type.
var ErrBadFlagValue = errors.New("illegal flag value")

// ParseValue checks a value exactly as gflags' FlagValue::ParseFrom does
// and returns it the way osqueryd then shows it (booleans as true/false,
// integers in decimal): bool takes 1/0, t/f, true/false, y/n, yes/no in
// any ASCII case; integers go through strtoll/strtoull (leading blanks, a
// sign, 0x for hex, never octal) within the type's range, with nothing
// after the digits; a string takes anything.
func (d FlagDef) ParseValue(v string) (string, error) {
	switch d.Type {
	case FlagString:
		return v, nil
	case FlagBool:
		for _, s := range []string{"1", "t", "true", "y", "yes"} {
			if asciiEqualFold(v, s) {
				return "true", nil
			}
		}
		for _, s := range []string{"0", "f", "false", "n", "no"} {
			if asciiEqualFold(v, s) {
				return "false", nil
			}
		}
	case FlagInt32:
		if n, ok := cStrtoll(v, gflagsBase(v)); ok && n >= -1<<31 && n < 1<<31 {
			return fmt.Sprint(n), nil
		}
	case FlagUint32, FlagUint64:
		// gflags skips spaces (only spaces) and refuses a minus sign
		// before handing the rest to strtoull.
		rest := strings.TrimLeft(v, " ")
		if strings.HasPrefix(rest, "-") {
			break
		}
		n, ok := cStrtoull(rest, gflagsBase(v))
		if ok && (d.Type == FlagUint64 || n < 1<<32) {
			return fmt.Sprint(n), nil
		}
	}
	return "", fmt.Errorf("%w for %s flag %q", ErrBadFlagValue, d.Type, d.Name)
}

// CheckFlagValue reports whether --name=value is a line osqueryd accepts:
// a flag it defines (aliases resolved), a value of its type, and nothing
// that could end the line or the C string early (newline, CR, NUL).
func CheckFlagValue(name, value string) error {
	d, ok := LookupFlag(name)
	if !ok {
		return fmt.Errorf("osqueryd defines no flag %q", name)
	}
	if strings.ContainsAny(value, "\n\r\x00") {
		return fmt.Errorf("value of flag %q has a line break or NUL", name)
	}
	_, err := d.ParseValue(value)
	return err
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// gflagsBase is gflags' choice: base 16 when the value itself starts with
// 0x, else base 10 ("leading 0 does not put us in base 8").
func gflagsBase(v string) int {
	if len(v) >= 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X') {
		return 16
	}
	return 10
}

// cSpace is C's isspace in the "C" locale.
func cSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// cDigits is strtoull's core: blanks, a sign, an optional 0x in base 16,
// then digits up to the end of the string. It returns the magnitude, the
// sign, and false when the string is not entirely a number or the
// magnitude overflows 64 bits (ERANGE).
func cDigits(s string, base int) (mag uint64, neg, ok bool) {
	i := 0
	for i < len(s) && cSpace(s[i]) {
		i++
	}
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	if base == 16 && i+2 < len(s) && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') && hexDigit(s[i+2]) >= 0 {
		i += 2
	}
	if i == len(s) {
		return 0, false, false
	}
	for ; i < len(s); i++ {
		d := hexDigit(s[i])
		if d < 0 || d >= base {
			return 0, false, false
		}
		if mag > (^uint64(0)-uint64(d))/uint64(base) {
			return 0, false, false
		}
		mag = mag*uint64(base) + uint64(d)
	}
	return mag, neg, true
}

func hexDigit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// cStrtoll is strtoll with gflags' full-string check.
func cStrtoll(s string, base int) (int64, bool) {
	mag, neg, ok := cDigits(s, base)
	switch {
	case !ok:
		return 0, false
	case neg && mag <= 1<<63:
		return int64(-mag), true // -(1<<63) wraps to itself: the minimum
	case !neg && mag < 1<<63:
		return int64(mag), true
	}
	return 0, false
}

// cStrtoull is strtoull with gflags' full-string check. Like C, a minus
// sign that gflags did not catch (after a tab) negates modulo 2^64.
func cStrtoull(s string, base int) (uint64, bool) {
	mag, neg, ok := cDigits(s, base)
	if !ok {
		return 0, false
	}
	if neg {
		return -mag, true
	}
	return mag, true
}
