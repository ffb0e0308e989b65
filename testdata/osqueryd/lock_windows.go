package main

// Windows: no database lock and no pidfile liveness check in the stand-in.
func lockDatabase(string) (func(), error) { return func() {}, nil }

func otherRunningPid(string) (int, bool) { return 0, false }
