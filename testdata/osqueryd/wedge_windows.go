package main

import "os"

// wedgeSignal: Windows has no spare signal; use the wedge file.
func wedgeSignal() os.Signal { return nil }
