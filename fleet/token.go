package fleet

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/orbitagent/orbit/internal/safefile"
)

const (
	// DefaultTokenTTL is how long a device token lives (Fleet: 1 h).
	DefaultTokenTTL = time.Hour
	// DefaultTokenCheckInterval is how often the identifier file's age is
	// checked; the check is local, it sends nothing (Fleet: 30 s).
	DefaultTokenCheckInterval = 30 * time.Second
)

// NewDeviceToken returns a random version-4 UUID, the form Fleet's orbit
// uses. It is URL-safe, as the device API puts it in the path.
func NewDeviceToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate device token: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], nil
}

// validToken accepts what Fleet accepts in a device token: non-empty and
// unchanged by URL query escaping; we also bound the length.
func validToken(t string) bool {
	if len(t) < 8 || len(t) > 128 {
		return false
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// readToken returns the token in the identifier file and its mtime.
func readToken(path string) (string, time.Time, error) {
	data, st, err := safefile.ReadLimitedInfo(path, safefile.MaxSecret)
	if err != nil {
		return "", time.Time{}, err
	}
	t := strings.TrimSpace(string(data))
	if !validToken(t) {
		return "", st.ModTime(), errors.New("identifier file does not hold a valid device token")
	}
	return t, st.ModTime(), nil
}

// writeToken replaces the identifier file atomically, 0644 so the tray app
// (running as the user) can read it, and stamps its mtime with now: the
// mtime is the token's age.
func writeToken(path, token string, now time.Time) error {
	if err := safefile.WriteAtomic(path, []byte(token), 0o644); err != nil {
		return fmt.Errorf("write device token: %w", err)
	}
	if err := os.Chtimes(path, now, now); err != nil {
		return fmt.Errorf("set device token time: %w", err)
	}
	return nil
}

// ReadDeviceToken returns the device token in the identifier file (what
// the tray app reads), or an error when there is none or it is not valid.
func ReadDeviceToken(path string) (string, error) {
	t, _, err := readToken(path)
	return t, err
}
