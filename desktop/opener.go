package desktop

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os/exec"

	"github.com/rs/zerolog"
)

// Opener shows a page in the user's browser.
type Opener interface {
	Open(ctx context.Context, pageURL string) error
}

// BrowserOpener opens pages with the platform's handler: xdg-open on Linux
// and the BSDs, open on macOS, rundll32 url.dll,FileProtocolHandler on
// Windows. The URL is one argument of a direct exec, never a shell word.
type BrowserOpener struct {
	// Logger gets the handler's failures (never the URL: it holds the token).
	Logger zerolog.Logger
}

// Open starts the handler and returns once it started; the handler is
// waited for (reaped) in the background, since xdg-open may stay until the
// browser it started exits.
func (o BrowserOpener) Open(_ context.Context, pageURL string) error {
	if err := checkPageURL(pageURL); err != nil {
		return err
	}
	name, args := browserCommand(pageURL)
	cmd := exec.Command(name, args...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("open the browser with %s: %w (install it, or xdg-utils on Linux)", name, err)
	}
	go func() {
		if err := cmd.Wait(); err != nil {
			o.Logger.Warn().Err(err).Str("handler", name).Msg("browser handler failed")
		}
	}()
	return nil
}

// checkPageURL refuses anything but a web page: the handlers would also
// open files and programs.
func checkPageURL(pageURL string) error {
	u, err := url.Parse(pageURL)
	if err != nil {
		return errors.New("open the browser: not a URL")
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("open the browser: only http and https pages are opened, not %q", u.Scheme)
	}
	return nil
}
