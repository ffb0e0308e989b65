package benchrec

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRecordThenRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "samples.jsonl")
	t.Setenv(Env, path)
	Record(t, "a_ms", 1.5)
	Record(t, "b", 7)
	Record(t, "a_ms", 2.25)
	RecordDuration(t, "d_ms", 1500*time.Microsecond)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := Read(f)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]float64{"a_ms": {1.5, 2.25}, "b": {7}, "d_ms": {1.5}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Read = %v, want %v", got, want)
	}
}

func TestRecordWithoutEnvWritesNothing(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(Env, "")
	t.Chdir(dir)
	Record(t, "a", 1)
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("Record without %s wrote %v", Env, entries)
	}
}

func TestReadRefusesGarbage(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"not json\n", `{"value":1}` + "\n"} {
		if _, err := Read(strings.NewReader(in)); err == nil {
			t.Errorf("Read(%q) accepted it", in)
		}
	}
}
