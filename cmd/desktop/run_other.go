//go:build windows || (darwin && cgo)

package main

import (
	"context"

	"fyne.io/systray"
)

// runTray runs systray's own loop on the main goroutine (Windows and macOS
// tie the tray to the thread that created it); onReady returns at once and
// the app runs on its own goroutines. A signal or orbit's exit quits it.
func runTray(ctx context.Context, t tray) int {
	appCtx, stopApp := context.WithCancel(ctx)
	defer stopApp()
	go func() {
		<-ctx.Done()
		systray.Quit()
	}()
	systray.Run(func() {
		decorate()
		t.menu.onReady()
		go t.runApp(appCtx)
	}, nil)
	return exitOK
}
