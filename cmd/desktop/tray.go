//go:build !darwin || cgo

package main

import (
	"context"
	"errors"
	"sync"

	"fyne.io/systray"
	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/clock"
	"github.com/orbitagent/orbit/desktop"
)

// tray is what runTray (one per platform) runs.
type tray struct {
	log  zerolog.Logger
	clk  clock.Clock
	menu *trayMenu
	app  *desktop.App
}

// runApp polls Fleet and opens the clicked pages until ctx ends.
func (t tray) runApp(ctx context.Context) {
	go t.menu.openClicks(ctx, t.app)
	if err := t.app.Run(ctx); err != nil {
		t.log.Error().Err(err).Msg("tray app logic stopped")
	}
}

// clickQueue bounds the clicks waiting to be opened: a host that floods
// Event calls costs a bounded queue, not a process per call.
const clickQueue = 32

// trayMenu draws desktop.Menu with systray items. systray drops a click
// when nobody is receiving on the item's channel at that moment, so every
// item has its own goroutine that only receives and queues.
type trayMenu struct {
	log    zerolog.Logger
	clicks chan desktop.ItemID

	mu      sync.Mutex
	items   map[desktop.ItemID]*systray.MenuItem
	applied desktop.Menu
	latest  desktop.Menu
}

func newTrayMenu(logger zerolog.Logger, initial desktop.Menu) *trayMenu {
	return &trayMenu{log: logger, clicks: make(chan desktop.ItemID, clickQueue), latest: initial}
}

// decorate sets the icon, title and tooltip. On Linux it runs before
// systray starts: there SetIcon panics (prop.SetMust) when the bus is gone
// by the time it emits the change, and before the start it only stores.
func decorate() {
	systray.SetTitle("Fleet Desktop")
	systray.SetTooltip("Fleet Desktop")
	systray.SetIcon(trayIcon())
}

// onReady builds the items. systray calls it on its own goroutine and
// every GetLayout waits for it to return, so it only adds items and starts
// the click readers; updates come later from App's goroutine.
func (m *trayMenu) onReady() {
	defer func() {
		// A panic here would end the process: systray runs this on its
		// own goroutine, and calls into a connection that may be dying.
		if r := recover(); r != nil {
			m.log.Error().Interface("panic", r).Msg("systray failed while building the menu")
		}
	}()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.items = make(map[desktop.ItemID]*systray.MenuItem)
	for _, id := range desktop.Items() {
		want := m.latest.Item(id)
		it := systray.AddMenuItem(want.Title, "")
		m.items[id] = it
		applyItem(it, desktop.MenuItem{Title: want.Title, Enabled: true, Visible: true}, want)
		if id == desktop.ItemStatus {
			systray.AddSeparator()
		}
		go m.readClicks(id, it.ClickedCh)
	}
	m.applied = m.latest
}

// ShowMenu is desktop.MenuView: it changes only what differs.
func (m *trayMenu) ShowMenu(menu desktop.Menu) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.latest = menu
	if m.items == nil {
		return // onReady draws it
	}
	for _, id := range desktop.Items() {
		applyItem(m.items[id], m.applied.Item(id), menu.Item(id))
	}
	m.applied = menu
}

func applyItem(it *systray.MenuItem, had, want desktop.MenuItem) {
	if had.Title != want.Title {
		it.SetTitle(want.Title)
	}
	if had.Enabled != want.Enabled {
		if want.Enabled {
			it.Enable()
		} else {
			it.Disable()
		}
	}
	if had.Visible != want.Visible {
		if want.Visible {
			it.Show()
		} else {
			it.Hide()
		}
	}
}

// readClicks receives an item's clicks for as long as the item exists.
func (m *trayMenu) readClicks(id desktop.ItemID, ch <-chan struct{}) {
	for range ch {
		select {
		case m.clicks <- id:
		default:
			m.log.Warn().Stringer("item", id).Msg("too many clicks waiting; dropping one")
		}
	}
}

// openClicks opens the pages of the queued clicks until ctx ends.
func (m *trayMenu) openClicks(ctx context.Context, app *desktop.App) {
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-m.clicks:
			err := app.Open(ctx, id)
			switch {
			case errors.Is(err, desktop.ErrItemDisabled):
				m.log.Debug().Stringer("item", id).Msg("click on a disabled item")
			case err != nil:
				m.log.Warn().Err(err).Stringer("item", id).Msg("cannot open the page")
			default:
				m.log.Info().Stringer("item", id).Msg("opened the page in the browser")
			}
		}
	}
}
