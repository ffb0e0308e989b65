//go:build !windows && (!darwin || cgo)

package main

func trayIcon() []byte { return iconPNG(32) }
