// Command orbit-doa is a dead-on-arrival orbit release, for tests: it
// answers `orbit version` as orbit does, so it passes the updater's exec
// check, and exits 2 on any other start, before anything of its own could
// count a boot or roll itself back (as a flag it refuses or a crash in
// init would). Each such start appends a line to $ORBIT_DOA_STARTS when
// set.
package main

import (
	"fmt"
	"os"
)

// version is set at build time: -ldflags "-X main.version=2.0.0".
var version = "0.0.0-doa"

func main() {
	if len(os.Args) == 2 && os.Args[1] == "version" {
		fmt.Printf("orbit %s\n", version)
		return
	}
	if p := os.Getenv("ORBIT_DOA_STARTS"); p != "" {
		if f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
			fmt.Fprintln(f, "start")
			f.Close()
		}
	}
	fmt.Fprintln(os.Stderr, "orbit-doa: refusing to start")
	os.Exit(2)
}
