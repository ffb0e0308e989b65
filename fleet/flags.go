package fleet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/orbitagent/orbit/supervisor/osqueryd"
)

// DroppedFlag is a server flag left out of osquery.flags, and why.
type DroppedFlag struct {
	Name   string
	Reason string
}

// ServerFlags is the parsed command_line_startup_flags.
type ServerFlags struct {
	// Set is false when the server sent no flags (absent or null): the
	// flagfile is then left as it is, as Fleet's orbit does. An empty
	// object sets an empty flagfile.
	Set bool
	// Values maps a flag name (no dashes) to its rendered value.
	Values map[string]string
	// Dropped lists the flags refused.
	Dropped []DroppedFlag
}

// ParseFlags turns command_line_startup_flags into flagfile values. Values
// are rendered as Fleet's orbit does: strings as they are, booleans as
// true/false, numbers without decimals. Flags that are protected, have
// names that are not [A-Za-z0-9_] or values that could inject another line
// (newline, NUL) are dropped, and so are nested values.
func ParseFlags(raw json.RawMessage) (ServerFlags, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return ServerFlags{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return ServerFlags{}, fmt.Errorf("command_line_startup_flags is not a JSON object: %w", err)
	}
	out := ServerFlags{Set: true, Values: map[string]string{}}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, key := range names {
		name := strings.TrimLeft(key, "-")
		drop := func(reason string) {
			out.Dropped = append(out.Dropped, DroppedFlag{Name: printableName(name), Reason: reason})
		}
		if !validFlagName(name) {
			drop("invalid flag name")
			continue
		}
		if isProtected(name) {
			drop("protected flag: set by orbit")
			continue
		}
		var val string
		switch v := m[key].(type) {
		case string:
			val = v
		case bool:
			val = strconv.FormatBool(v)
		case json.Number:
			val = renderNumber(v)
		default:
			drop("unsupported value type")
			continue
		}
		if strings.ContainsAny(val, "\r\n\x00") {
			drop("value contains a line break")
			continue
		}
		out.Values[name] = val
	}
	return out, nil
}

// RenderFlagfile renders values as osquery.flags: one --name=value line per
// flag, sorted by name; an empty value gives a bare --name (as Fleet's orbit).
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
		if v := values[k]; v != "" {
			b.WriteByte('=')
			b.WriteString(v)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// renderNumber prints an integer literal as is (no float rounding of large
// values) and any other number without decimals, like Fleet's "%.f".
func renderNumber(n json.Number) string {
	s := n.String()
	if !strings.ContainsAny(s, ".eE") {
		return s
	}
	f, err := n.Float64()
	if err != nil {
		return s
	}
	return strconv.FormatFloat(f, 'f', 0, 64)
}

func validFlagName(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

func isProtected(name string) bool { return osqueryd.CheckServerFlag(name) != nil }

// printableName makes a refused flag name safe to log.
func printableName(name string) string { return shorten(name, 64) }
