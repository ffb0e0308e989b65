//go:build !linux

package main

import (
	"fmt"
	"os"
)

// make bench reads /proc and process CPU clocks: Linux only.
func main() {
	fmt.Fprintln(os.Stderr, "report: make bench runs on Linux only")
	os.Exit(2)
}
