package safefile

import "testing"

func specialFiles(*testing.T, string) []readCase { return nil }
