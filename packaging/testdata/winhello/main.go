// Command winhello is a tiny program the packaging tests build for Windows
// (GOOS=windows) as a real PE payload: msi contents, Authenticode signing.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "version" {
		fmt.Println("winhello 1.0.0")
		return
	}
	fmt.Println("hello from a packaged Windows binary")
}
