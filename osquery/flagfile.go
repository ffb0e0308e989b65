package osquery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// DroppedFlag is a server flag left out of osquery.flags, and why. Name is
// safe to log (quoted and shortened when it is not a plain flag name); the
// reason never holds the value, which may be a secret (aws_secret_access_key).
type DroppedFlag struct {
	Name   string
	Reason string
}

// ServerFlags is the parsed command_line_startup_flags.
type ServerFlags struct {
	// Set is false when the server sent no command_line_startup_flags at
	// all: the flagfile is then left as it is, as Fleet's agent does. null
	// and {} both set an empty flagfile (Fleet's agent writes one for null).
	Set bool
	// Values maps a flag's own name (aliases resolved) to its value.
	Values map[string]string
	// Dropped lists the refused flags, sorted by name, at most
	// maxDroppedListed of them (then one line counts the rest).
	Dropped []DroppedFlag
}

const (
	// maxNameLen is far above osquery's longest flag name (38).
	maxNameLen = 128
	// maxValueLen bounds one line of the flagfile; osquery's longest real
	// values (table lists, FIM paths) are far shorter.
	maxValueLen = 64 << 10
	// maxDroppedListed keeps a server that sends thousands of junk keys
	// from writing thousands of log lines.
	maxDroppedListed = 50
)

// ParseServerFlags turns command_line_startup_flags into flagfile values,
// rendered as Fleet's agent does (strings as they are, booleans true or
// false, numbers without decimals), and keeps only what osqueryd accepts
// and the server may set. A flag is dropped, with its reason, when:
//   - its name is not [a-z0-9_] (no dashes, spaces, '=' or line breaks);
//   - osqueryd does not define it (gflags ignores unknown flagfile lines,
//     so the server's setting would silently do nothing);
//   - orbit manages it (ProtectedFlags; aliases resolve first);
//   - its value is not a string, boolean or number, could break the line
//     (newline, CR, NUL), is too long, or does not fit the flag's type, which
//     would make osqueryd refuse to start and crash-loop.
//
// Aliases are written under the flag they set; when both an alias and its
// flag are given, the flag's own name wins. The result depends only on the
// input. An error means the input is not a JSON object: the caller keeps
// the current flagfile.
func ParseServerFlags(raw json.RawMessage) (ServerFlags, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ServerFlags{}, nil
	}
	out := ServerFlags{Set: true, Values: map[string]string{}}
	if bytes.Equal(raw, []byte("null")) {
		return out, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return ServerFlags{}, fmt.Errorf("command_line_startup_flags is not a JSON object of flags: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return ServerFlags{}, errors.New("command_line_startup_flags has data after its JSON object")
	}
	if m == nil { // "null" with odd spacing inside, e.g. from a cache
		return out, nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	var dropped []DroppedFlag
	drop := func(key, reason string) {
		dropped = append(dropped, DroppedFlag{Name: loggableName(key), Reason: reason})
	}
	from := map[string]string{} // flag name -> key its value came from
	for _, key := range keys {
		def, reason := serverFlag(key)
		if reason != "" {
			drop(key, reason)
			continue
		}
		val, reason := renderValue(m[key])
		if reason == "" {
			reason = checkValue(def, val)
		}
		if reason != "" {
			drop(key, reason)
			continue
		}
		if prev, taken := from[def.Name]; taken {
			// Keys are sorted, so this is deterministic; the flag's own
			// name beats an alias of it.
			if key != def.Name {
				drop(key, fmt.Sprintf("alias of %s, which is also set", def.Name))
				continue
			}
			drop(prev, fmt.Sprintf("alias of %s, which is also set", def.Name))
		}
		from[def.Name] = key
		out.Values[def.Name] = val
	}
	sort.SliceStable(dropped, func(i, j int) bool { return dropped[i].Name < dropped[j].Name })
	if len(dropped) > maxDroppedListed {
		more := len(dropped) - maxDroppedListed
		dropped = append(dropped[:maxDroppedListed], DroppedFlag{
			Name:   fmt.Sprintf("(%d more)", more),
			Reason: "too many refused flags to list each",
		})
	}
	out.Dropped = dropped
	return out, nil
}

// serverFlag resolves a key of command_line_startup_flags to a flag the
// server may set, or says why not.
func serverFlag(key string) (FlagDef, string) {
	if !validFlagName(key) {
		return FlagDef{}, "not a flag name: osquery flag names are lower-case letters, digits and '_', without dashes"
	}
	def, known := LookupFlag(key)
	if !known {
		if base, ok := strings.CutPrefix(key, "no"); ok {
			if bd, isFlag := LookupFlag(base); isFlag && bd.Type == FlagBool {
				if reason, p := IsProtected(base); p {
					return FlagDef{}, "managed by orbit: " + reason
				}
				return FlagDef{}, fmt.Sprintf("write %q: false instead: orbit writes only --name=value lines", base)
			}
		}
		return FlagDef{}, "osqueryd defines no such flag (it would ignore it)"
	}
	if reason, p := IsProtected(def.Name); p {
		if def.Name != key {
			return FlagDef{}, fmt.Sprintf("alias of %s, managed by orbit: %s", def.Name, reason)
		}
		return FlagDef{}, "managed by orbit: " + reason
	}
	return def, ""
}

// renderValue renders a JSON value as Fleet's agent does.
func renderValue(v any) (string, string) {
	switch x := v.(type) {
	case string:
		return x, ""
	case bool:
		return strconv.FormatBool(x), ""
	case json.Number:
		return renderNumber(x)
	case nil:
		return "", "null is not a flag value"
	default:
		return "", "objects and arrays are not flag values"
	}
}

// renderNumber keeps an integer literal exact (no float64 rounding of big
// values) and prints any other number without decimals, as Fleet's "%.f".
func renderNumber(n json.Number) (string, string) {
	s := n.String()
	if !strings.ContainsAny(s, ".eE") {
		return s, ""
	}
	f, err := n.Float64()
	if err != nil {
		return "", "number out of range"
	}
	return strconv.FormatFloat(f, 'f', 0, 64), ""
}

// checkValue says why a rendered value cannot go into the flagfile.
func checkValue(def FlagDef, val string) string {
	switch {
	case strings.ContainsAny(val, "\n\r\x00"):
		return "value has a line break or NUL, which would break the flagfile"
	case len(val) > maxValueLen:
		return fmt.Sprintf("value longer than %d bytes", maxValueLen)
	}
	if _, err := def.ParseValue(val); err != nil {
		return fmt.Sprintf("value is not a valid %s: osqueryd would refuse to start", def.Type)
	}
	return ""
}

// validFlagName is osquery's naming: [a-z0-9_], so no "--" or "=" can hide
// inside a name and no shell switch (S, D) can be reached.
func validFlagName(s string) bool {
	if s == "" || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// loggableName shows a refused name in a log line: plain names as they
// are, anything else quoted (escapes for control bytes) and shortened.
func loggableName(s string) string {
	if validFlagName(s) {
		return s
	}
	const limit = 64
	if len(s) > limit {
		s = strings.ToValidUTF8(s[:limit], "") + "..."
	}
	return strconv.QuoteToASCII(s)
}

// RenderFlagfile renders values as osquery.flags: one --name=value line per
// flag, sorted by name. Every line has "=", so an empty string value really
// sets the flag empty (gflags ignores a bare --name of a non-bool flag).
func RenderFlagfile(values map[string]string) []byte {
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, k := range names {
		b.WriteString("--")
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(values[k])
		b.WriteByte('\n')
	}
	return b.Bytes()
}
