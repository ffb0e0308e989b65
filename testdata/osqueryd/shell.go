package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// newQueryEnv builds the environment the tables read; id holds what the
// database keeps (host UUID, instance id).
func newQueryEnv(fs *flagSet, id *identity) *queryEnv {
	return &queryEnv{
		// Read once, on first use: tables run from several goroutines.
		host:      sync.OnceValue(collectHostInfo),
		flags:     fs,
		version:   version,
		pid:       os.Getpid(),
		id:        id,
		startTime: time.Now(),
		now:       time.Now,
	}
}

// hostHardwareUUID is the hardware UUID the platform reports (see
// collectHostInfo for hosts without one).
func hostHardwareUUID() string { return collectHostInfo().UUID }

// runShell answers queries like "osqueryd -S": from --A, positional args or
// stdin. A failing statement prints "Error: ..." and makes the exit code 1.
//
// Like osquery, the shell uses an ephemeral database unless --database_path
// is given; with it, it opens that database (its LOCK, retried as osquery
// does) and fails with exit 1 while a daemon holds it.
func runShell(fs *flagSet, sw switches, stdin io.Reader, stdout, stderr io.Writer) int {
	db := databaseDir(fs)
	if db != "" {
		// Like RocksDB the shell does not create missing parents.
		unlock, err := openDatabase(db, false, sw.intervalScale)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitFailure
		}
		defer unlock()
	}
	env := newQueryEnv(fs, newIdentity(db, sw, hostHardwareUUID))
	var stmts []string
	switch {
	case fs.String("A") != "":
		stmts = []string{"SELECT * FROM " + fs.String("A")}
	case len(fs.args) > 0:
		stmts = splitStatements(strings.Join(fs.args, " "))
	default:
		b, err := io.ReadAll(io.LimitReader(stdin, 1<<20))
		if err != nil {
			fmt.Fprintf(stderr, "Error: reading stdin: %v\n", err)
			return exitFailure
		}
		stmts = splitStatements(string(b))
	}
	if fs.Bool("L") {
		for _, n := range sortedTableNames() {
			fmt.Fprintln(stdout, n)
		}
	}
	code := exitSuccess
	for _, q := range stmts {
		res, err := runQuery(env, q)
		if err != nil {
			fmt.Fprintf(stderr, "Error: %v\n", err)
			code = exitFailure
			continue
		}
		printResult(fs, stdout, res)
	}
	return code
}

func sortedTableNames() []string {
	var names []string
	for n := range tables {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func printResult(fs *flagSet, w io.Writer, res *queryResult) {
	switch {
	case fs.Bool("json") || fs.Bool("json_pretty"):
		printJSON(w, res, fs.Bool("json_pretty"))
	case fs.Bool("csv"):
		printSeparated(w, res, ",", fs.Bool("header"))
	case fs.Bool("list"):
		printSeparated(w, res, fs.String("separator"), fs.Bool("header"))
	case fs.Bool("line"):
		width := 0
		for _, c := range res.columns {
			width = max(width, len(c))
		}
		for i, r := range res.rows {
			if i > 0 {
				fmt.Fprintln(w)
			}
			for _, c := range res.columns {
				fmt.Fprintf(w, "%*s = %s\n", width, c, r[c])
			}
		}
	default:
		printPretty(w, res)
	}
}

// printJSON prints an array with one object per row, as osqueryi --json.
func printJSON(w io.Writer, res *queryResult, pretty bool) {
	fmt.Fprintln(w, "[")
	for i, r := range res.rows {
		var b []byte
		if pretty {
			b, _ = json.MarshalIndent(r, "  ", "  ")
		} else {
			b, _ = json.Marshal(r)
		}
		sep := ","
		if i == len(res.rows)-1 {
			sep = ""
		}
		fmt.Fprintf(w, "  %s%s\n", b, sep)
	}
	fmt.Fprintln(w, "]")
}

func printSeparated(w io.Writer, res *queryResult, sep string, header bool) {
	if header {
		fmt.Fprintln(w, strings.Join(res.columns, sep))
	}
	for _, r := range res.rows {
		vals := make([]string, len(res.columns))
		for i, c := range res.columns {
			vals[i] = r[c]
		}
		fmt.Fprintln(w, strings.Join(vals, sep))
	}
}

func printPretty(w io.Writer, res *queryResult) {
	if len(res.rows) == 0 {
		return
	}
	widths := make([]int, len(res.columns))
	for i, c := range res.columns {
		widths[i] = len(c)
		for _, r := range res.rows {
			widths[i] = max(widths[i], len(r[c]))
		}
	}
	line := func() {
		for _, wd := range widths {
			fmt.Fprint(w, "+"+strings.Repeat("-", wd+2))
		}
		fmt.Fprintln(w, "+")
	}
	row := func(get func(i int, c string) string) {
		for i, c := range res.columns {
			fmt.Fprintf(w, "| %-*s ", widths[i], get(i, c))
		}
		fmt.Fprintln(w, "|")
	}
	line()
	row(func(_ int, c string) string { return c })
	line()
	for _, r := range res.rows {
		row(func(_ int, c string) string { return r[c] })
	}
	line()
}
