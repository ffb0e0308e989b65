// Command helloext is a tiny osquery extension for tests: it registers the
// table hello (one row) with the osqueryd that autoloads it, as every
// osquery extension does (--socket, --timeout, --interval, --verbose).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/osquery/osquery-go"
	"github.com/osquery/osquery-go/plugin/table"
)

func main() {
	socket := flag.String("socket", "", "osqueryd's extension socket")
	timeout := flag.Int("timeout", 3, "seconds to wait for osqueryd")
	interval := flag.Int("interval", 3, "seconds between checks that osqueryd is there")
	flag.Bool("verbose", false, "osqueryd's --verbose, passed on")
	flag.Parse()
	if *socket == "" {
		fmt.Fprintln(os.Stderr, "helloext: --socket is required")
		os.Exit(2)
	}
	srv, err := osquery.NewExtensionManagerServer("hello", *socket,
		osquery.ServerTimeout(time.Duration(*timeout)*time.Second),
		osquery.ServerPingInterval(time.Duration(max(*interval, 1))*time.Second))
	if err != nil {
		fmt.Fprintln(os.Stderr, "helloext:", err)
		os.Exit(1)
	}
	srv.RegisterPlugin(table.NewPlugin("hello", []table.ColumnDefinition{table.TextColumn("greeting")},
		func(context.Context, table.QueryContext) ([]map[string]string, error) {
			return []map[string]string{{"greeting": "hello from an extension"}}, nil
		}))
	if err := srv.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "helloext:", err)
		os.Exit(1)
	}
}
