package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/orbitagent/orbit/component"
	"github.com/orbitagent/orbit/rootdir"
	"github.com/orbitagent/orbit/status"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "print each component's state, pid, version, restarts and last error",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: flagRootDir, Value: rootdir.DefaultPath(), EnvVars: envVar(flagRootDir), Usage: "root directory of the orbit to report on"},
			&cli.BoolFlag{Name: "json", Usage: "print the state file as JSON"},
		},
		Action: func(c *cli.Context) error {
			layout, err := rootdir.New(c.String(flagRootDir))
			if err != nil {
				return err
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
