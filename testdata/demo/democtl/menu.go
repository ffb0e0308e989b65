package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/orbitagent/orbit/desktop/desktoptest"
)

// menu reads the tray icon's menu over the session bus, as a panel does
// (shell has no dbusmenu client): the first item the StatusNotifierWatcher
// lists, the pid of the process behind it, and the menu's entries. With
// --want it waits until an entry has that label (the tray polls Fleet, so
// a new count shows after a poll).
func menu(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("menu", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	bus := fs.String("bus", "", "the session bus address (unix:path=...)")
	want := fs.String("want", "", "wait until an entry has this label")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the item (and --want)")
	if err := fs.Parse(args); err != nil || *bus == "" || fs.NArg() != 0 {
		return errors.New("usage: democtl menu --bus ADDRESS [--want LABEL] [--timeout 30s]")
	}
	c, err := desktoptest.Connect(*bus)
	if err != nil {
		return err
	}
	defer c.Close()

	deadline := time.Now().Add(*timeout)
	last := "no item registered with the StatusNotifierWatcher"
	for {
		it, entries, pid, err := readMenu(c)
		switch {
		case err != nil:
			last = err.Error()
		case *want != "" && !hasLabel(entries, *want):
			last = fmt.Sprintf("the menu has no entry %q yet: %s", *want, labels(entries))
		default:
			printMenu(stdout, it, pid, entries)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %s", *timeout, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func readMenu(c *desktoptest.Client) (desktoptest.Item, []desktoptest.Entry, uint32, error) {
	items, err := c.Items()
	if err != nil {
		return desktoptest.Item{}, nil, 0, err
	}
	if len(items) == 0 {
		return desktoptest.Item{}, nil, 0, errors.New("no item registered with the StatusNotifierWatcher")
	}
	it := items[0]
	entries, err := c.Layout(it)
	if err != nil {
		return it, nil, 0, err
	}
	pid, err := c.ConnectionPid(it.Owner)
	if err != nil {
		return it, nil, 0, fmt.Errorf("the pid behind %s: %w", it.Owner, err)
	}
	return it, entries, pid, nil
}

func hasLabel(entries []desktoptest.Entry, label string) bool {
	_, ok := desktoptest.Find(entries, label)
	return ok
}

func labels(entries []desktoptest.Entry) string {
	var l []string
	for _, e := range entries {
		l = append(l, fmt.Sprintf("%q", e.Label))
	}
	return "[" + strings.Join(l, " ") + "]"
}

// printMenu writes "item NAME PATH pid PID" (for scripts), then one line
// per visible entry: its label and whether a click does anything.
func printMenu(w io.Writer, it desktoptest.Item, pid uint32, entries []desktoptest.Entry) {
	fmt.Fprintf(w, "item %s pid %d\n", it, pid)
	for _, e := range entries {
		switch {
		case !e.Visible:
			continue
		case e.Type == "separator":
			fmt.Fprintln(w, "  ----")
		case e.Enabled:
			fmt.Fprintf(w, "  %-28s (click: opens)\n", e.Label)
		default:
			fmt.Fprintf(w, "  %-28s (text)\n", e.Label)
		}
	}
}
