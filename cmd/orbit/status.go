package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/orbitagent/orbit/component"
	"github.com/orbitagent/orbit/osquery"
	"github.com/orbitagent/orbit/rootdir"
	"github.com/orbitagent/orbit/status"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "print each component's state, pid, version, restarts and last error",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: flagRootDir, Value: rootdir.DefaultPath(), EnvVars: envVar(flagRootDir), Usage: "root directory of the orbit to report on"},
			&cli.BoolFlag{Name: "json", Usage: "print the state file (or the query's rows) as JSON"},
			&cli.StringFlag{Name: "query", Usage: "run this SQL through the running osqueryd and print its rows (needs root: the socket is root's)"},
		},
		Action: func(c *cli.Context) error {
			layout, err := rootdir.New(c.String(flagRootDir))
			if err != nil {
				return err
			}
			if q := c.String("query"); q != "" {
				return runQuery(c.Context, c.App.Writer, layout, q, c.Bool("json"))
			}
			snap, err := status.Read(layout.State())
			if err != nil {
				return err
			}
			running := processAlive(snap.OrbitPID)
			if c.Bool("json") {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					Running bool `json:"running"`
					status.Snapshot
				}{running, snap})
			}
			printStatus(c.App.Writer, snap, running)
			return nil
		},
	}
}

func printStatus(w io.Writer, snap status.Snapshot, running bool) {
	if running {
		fmt.Fprintf(w, "orbit %s running (pid %d) since %s\n", snap.OrbitVersion, snap.OrbitPID, snap.StartedAt.Local().Format(time.DateTime))
	} else {
		fmt.Fprintf(w, "orbit is not running; last state from %s\n", snap.UpdatedAt.Local().Format(time.DateTime))
	}
	if f := snap.Fleet; f != nil {
		fmt.Fprintf(w, "fleet: %s enrolled=%t", f.URL, f.Enrolled)
		if f.EnrollRefused != "" {
			fmt.Fprintf(w, " enroll_refused=%s", f.EnrollRefused)
		}
		if f.LastError != "" {
			fmt.Fprintf(w, " last_error=%q", f.LastError)
		}
		fmt.Fprintln(w)
		if f.MyDeviceURL != "" {
			fmt.Fprintf(w, "my device: %s\n", f.MyDeviceURL)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tSTATE\tPID\tVERSION\tRESTARTS\tLAST ERROR")
	for _, c := range snap.SortedComponents() {
		state := c.State
		if !running && c.Name != string(component.Orbit) {
			state = "stopped"
		}
		if c.CrashLoop {
			state += " (crash loop)"
		}
		pid := "-"
		if c.PID > 0 && running {
			pid = fmt.Sprint(c.PID)
		}
		ver := c.Version
		if ver == "" {
			ver = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", c.Name, state, pid, ver, c.Restarts, c.LastError)
	}
	tw.Flush()
	if n := len(snap.Updates); n > 0 {
		fmt.Fprintln(w, "recent updates:")
		for _, u := range snap.Updates[max(0, n-5):] {
			fmt.Fprintf(w, "  %s %s %s %s %s\n", u.Time.Local().Format(time.DateTime), u.Component, u.Action, u.Version, u.Message)
		}
	}
}

// queryTimeout bounds `orbit status --query`.
const queryTimeout = 30 * time.Second

// runQuery runs sql in the osqueryd orbit supervises, through its
// extension socket, and prints the rows: a table with the columns sorted,
// or a JSON array of objects.
func runQuery(ctx context.Context, w io.Writer, layout rootdir.Layout, sql string, asJSON bool) error {
	socket := layout.ExtensionsSocket()
	client, err := osquery.NewClient(osquery.ClientConfig{Socket: socket, Timeout: queryTimeout})
	if err != nil {
		return cli.Exit(err.Error(), exitBadInput)
	}
	rows, err := client.Query(ctx, sql)
	var qe *osquery.QueryError
	switch {
	case errors.As(err, &qe):
		return cli.Exit("query refused by osqueryd: "+qe.Message, 1)
	case errors.Is(err, fs.ErrPermission):
		return cli.Exit(fmt.Sprintf("cannot connect to osqueryd's socket %s: permission denied; only root may use it (it answers every query): run orbit status --query as root", socket), 1)
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
		return cli.Exit(fmt.Sprintf("osqueryd is not running under orbit (nothing answers on %s): start orbit, or check --root-dir", socket), 1)
	case err != nil:
		return cli.Exit("query through osqueryd failed: "+err.Error(), 1)
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	printRows(w, rows)
	return nil
}

// printRows prints rows as a table, one column per key of any row, sorted.
func printRows(w io.Writer, rows []map[string]string) {
	seen := map[string]bool{}
	var cols []string
	for _, r := range rows {
		for k := range r {
			if !seen[k] {
				seen[k] = true
				cols = append(cols, k)
			}
		}
	}
	slices.Sort(cols)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(cols, "\t"))
	for _, r := range rows {
		vals := make([]string, len(cols))
		for i, c := range cols {
			// One line per row: a value with a line break or tab would
			// break the table.
			vals[i] = strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(r[c])
		}
		fmt.Fprintln(tw, strings.Join(vals, "\t"))
	}
	tw.Flush()
	fmt.Fprintf(w, "(%d rows)\n", len(rows))
}
