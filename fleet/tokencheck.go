package fleet

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// DefaultTokenRemoteCheck is how often the device token is checked with the
// server (Fleet's orbit/pkg/token: every 5 minutes).
const DefaultTokenRemoteCheck = 5 * time.Minute

// ErrDeviceTokenRejected is a device API 401: the server does not know the
// token (expired, or lost with a restored database).
var ErrDeviceTokenRejected = errors.New("fleet does not know the device token (HTTP 401)")

// devicePath is a device API path for token; errors show it as
// "{token}", never the token itself.
func devicePath(token, rest string) (path, shown string) {
	return "/api/latest/fleet/device/" + token + rest, "/api/latest/fleet/device/{token}" + rest
}

// CheckDeviceToken asks the device API whether the server knows token:
// HEAD .../device/{token}/ping, or GET .../desktop on a server older than
// the ping (404), as Fleet's device client does. A 401 unwraps to
// ErrDeviceTokenRejected.
func (c *Client) CheckDeviceToken(ctx context.Context, token string) error {
	path, shown := devicePath(token, "/ping")
	err := c.call(ctx, request{method: http.MethodHead, path: path, shown: shown, device: true}, nil)
	if !errors.Is(err, ErrNotFound) {
		return err
	}
	path, shown = devicePath(token, "/desktop")
	return c.call(ctx, request{method: http.MethodGet, path: path, shown: shown, device: true}, nil)
}

// checkTokenRemote checks every TokenRemoteCheck that the server still
// knows the registered token, and rotates it at once when it does not,
// instead of leaving the tray app with a dead token until its hour is up.
func (a *Agent) checkTokenRemote(ctx context.Context) {
	dead := a.deadToken != "" && a.deadToken == a.token
	if !a.tokenRegistered || a.token == "" || a.MyDeviceURL() == "" && !dead {
		return // nothing registered (or an old server without the endpoint)
	}
	now := a.clock.Now()
	if a.lastTokenPing.IsZero() {
		a.lastTokenPing = now // just registered: the first check is one interval away
		return
	}
	if !dead && now.Sub(a.lastTokenPing) < a.cfg.TokenRemoteCheck {
		return
	}
	a.lastTokenPing = now
	if !dead {
		err := a.client.CheckDeviceToken(ctx, a.token)
		switch {
		case err == nil:
			return
		case errors.Is(err, ErrDeviceTokenRejected):
			a.log.Info().Msg("fleet no longer knows the device token, rotating it now")
			// Until a new token is registered, every local check retries.
			a.deadToken = a.token
		default:
			a.logQuiet(err, "device token check failed")
			return
		}
	}
	a.rotateToken(ctx, now)
}
