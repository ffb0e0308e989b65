package main

func trayIcon() []byte { return icoFromPNG(iconPNG(32), 32) }
