package osquery

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/orbitagent/orbit/internal/safefile"
	"github.com/orbitagent/orbit/internal/testdir"
	"github.com/orbitagent/orbit/internal/testwait"
	"github.com/orbitagent/orbit/rootdir"
)

// TestServerFlagsReachTheStandin is the path from the server's startup
// flags to a running osqueryd: a flag osqueryd does not define is left out
// with one reason, the rest is written to the flagfile, and the stand-in
// (which refuses what gflags refuses) starts with orbit's command line and
// runs with the server's value.
func TestServerFlagsReachTheStandin(t *testing.T) {
	t.Parallel()
	root := testdir.Short(t)
	l := rootdir.Layout{Root: root}

	flags, err := ParseServerFlags([]byte(`{"no_such_flag": 1, "distributed_interval": 7}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(flags.Dropped) != 1 || flags.Dropped[0].Name != "no_such_flag" || flags.Dropped[0].Reason == "" {
		t.Fatalf("dropped %+v, want no_such_flag with a reason", flags.Dropped)
	}
	file := RenderFlagfile(flags.Values)
	if string(file) != "--distributed_interval=7\n" {
		t.Fatalf("flagfile %q", file)
	}
	if err := safefile.WriteAtomic(l.OsqueryFlags(), file, 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(root, "osquery.conf")
	if err := os.WriteFile(conf, []byte(`{"options":{}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	args, err := Flags(FlagOptions{Layout: l, ConfigPath: conf})
	if err != nil {
		t.Fatal(err)
	}

	osq := execStandin(t, l.ExtensionsSocket(), l.OsqueryDB(), nil, args)
	c := testClient(t, osq.socket)
	var rows []map[string]string
	testwait.For(t, "the stand-in answering on its socket", func() bool {
		if osq.exited() {
			t.Fatalf("stand-in refused orbit's command line: %s", osq.stderr.String())
		}
		rows, err = c.Query(context.Background(), "SELECT name, value FROM osquery_flags WHERE name = 'distributed_interval' OR name = 'flagfile'")
		return err == nil
	})
	got := map[string]string{}
	for _, r := range rows {
		got[r["name"]] = r["value"]
	}
	if got["distributed_interval"] != "7" || got["flagfile"] != l.OsqueryFlags() {
		t.Fatalf("osquery_flags %v, want distributed_interval 7 from %s", got, l.OsqueryFlags())
	}
}
