package main

import "os"

// Windows has no SIGTERM for other processes: stop means kill.
func stopProcess(p *os.Process) { _ = p.Kill() }
