// Package fuzzcorpus reads and writes the checked-in seed corpus of a fuzz
// test (testdata/fuzz/<FuzzName>/ in the test's package), in the file
// format `go test` reads, so a test can keep it equal to the seeds its code
// builds. ORBIT_WRITE_CORPUS=1 rewrites it.
package fuzzcorpus

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const header = "go test fuzz v1\n"

// Encode renders one corpus entry of the values ([]byte, string or bool).
func Encode(values ...any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(header)
	for _, v := range values {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		case bool:
			fmt.Fprintf(&b, "bool(%t)\n", v)
		default:
			return nil, fmt.Errorf("fuzz corpus value of type %T: only []byte, string and bool", v)
		}
	}
	return b.Bytes(), nil
}

// Decode parses a corpus entry written by Encode.
func Decode(data []byte) ([]any, error) {
	text, ok := strings.CutPrefix(string(data), header)
	if !ok {
		return nil, fmt.Errorf("not a go test fuzz v1 file")
	}
	var out []any
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		typ, arg, ok := strings.Cut(line, "(")
		if !ok || !strings.HasSuffix(arg, ")") {
			return nil, fmt.Errorf("corpus line %q", line)
		}
		arg = strings.TrimSuffix(arg, ")")
		switch typ {
		case "[]byte", "string":
			s, err := strconv.Unquote(arg)
			if err != nil {
				return nil, fmt.Errorf("corpus line %q: %w", line, err)
			}
			if typ == "string" {
				out = append(out, s)
			} else {
				out = append(out, []byte(s))
			}
		case "bool":
			v, err := strconv.ParseBool(arg)
			if err != nil {
				return nil, fmt.Errorf("corpus line %q: %w", line, err)
			}
			out = append(out, v)
		default:
			return nil, fmt.Errorf("corpus line %q: unsupported type", line)
		}
	}
	return out, nil
}

func dir(fuzzName string) string { return filepath.Join("testdata", "fuzz", fuzzName) }

// Check fails t unless testdata/fuzz/<fuzzName>/seed-<name> holds each seed
// (with ORBIT_WRITE_CORPUS=1 it writes them instead).
func Check(t testing.TB, fuzzName string, seeds map[string][]any) {
	t.Helper()
	for name, values := range seeds {
		want, err := Encode(values...)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir(fuzzName), "seed-"+name)
		if os.Getenv("ORBIT_WRITE_CORPUS") == "1" {
			if err := os.MkdirAll(dir(fuzzName), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is missing or stale (%v): run ORBIT_WRITE_CORPUS=1 go test -run %s", p, err, t.Name())
		}
	}
}

// Read returns the seeds checked in for fuzzName, by name without "seed-".
func Read(t testing.TB, fuzzName string) map[string][]any {
	t.Helper()
	ents, err := os.ReadDir(dir(fuzzName))
	if err != nil {
		t.Fatalf("read the seed corpus: %v", err)
	}
	out := map[string][]any{}
	for _, e := range ents {
		name, ok := strings.CutPrefix(e.Name(), "seed-")
		if !ok {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir(fuzzName), e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		vals, err := Decode(data)
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		out[name] = vals
	}
	if len(out) == 0 {
		t.Fatalf("no seeds in %s", dir(fuzzName))
	}
	return out
}
