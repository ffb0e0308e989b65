package updater

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/trustedmetadata"

	"github.com/orbitagent/orbit/internal/httpclient"
	"github.com/orbitagent/orbit/internal/safefile"
)

// ErrNoRoots means updates are on but no trusted root was given.
var ErrNoRoots = errors.New("updates need a trusted root: pass --update-roots (the repository's root.json, inline or a path) or --disable-updates")

// ParseRoots reads the --update-roots value (see ReadRoots) and returns it
// only if go-tuf loads it as a trusted root (see checkRoot).
func ParseRoots(value string) ([]byte, error) {
	data, err := ReadRoots(value)
	if err != nil {
		return nil, err
	}
	if err := checkRoot(data); err != nil {
		return nil, err
	}
	return data, nil
}

// ReadRoots reads the --update-roots value: root JSON given inline (a value
// starting with '{') or the path of a regular file holding it, at most
// 512 KiB. A larger value is refused by its size, a FIFO or device without
// blocking. Config.Validate checks what it read.
func ReadRoots(value string) ([]byte, error) {
	v := strings.TrimSpace(value)
	if v == "" {
		return nil, ErrNoRoots
	}
	if strings.HasPrefix(v, "{") {
		if len(v) > safefile.MaxRoot {
			return nil, fmt.Errorf("inline update roots are larger than %d bytes: a TUF root.json is smaller", safefile.MaxRoot)
		}
		return []byte(v), nil
	}
	data, err := safefile.ReadLimited(v, safefile.MaxRoot)
	if err != nil {
		return nil, fmt.Errorf("update roots file: %w (pass the root JSON inline or the path of the repository's root.json)", err)
	}
	return data, nil
}

// checkRoot accepts a root.json that go-tuf loads as a trusted root: signed
// by a threshold of its own root keys, every key usable.
func checkRoot(data []byte) error {
	if _, err := rootVersion(data); err != nil {
		return err
	}
	if _, err := trustedmetadata.New(data); err != nil {
		return fmt.Errorf("update roots are not a TUF root.json signed by its own root keys: %w (print them with `orbitctl updates roots`)", err)
	}
	return nil
}

// checkRootKeys refuses a root with a key go-tuf cannot use: go-tuf v2.4.2
// hands an ed25519 key of any length to crypto/ed25519, which panics on
// one that is not 32 bytes (found by FuzzParseRoots).
// It must run before any signature check with the root's keys.
func checkRootKeys(m *metadata.Metadata[metadata.RootType]) error {
	for id, k := range m.Signed.Keys {
		pub, err := k.ToPublicKey()
		if err != nil {
			return fmt.Errorf("key %s: %w", id, err)
		}
		if ed, ok := pub.(ed25519.PublicKey); ok && len(ed) != ed25519.PublicKeySize {
			return fmt.Errorf("key %s is an ed25519 key of %d bytes, not %d", id, len(ed), ed25519.PublicKeySize)
		}
	}
	return nil
}

// rootVersion parses a root.json and returns its version.
func rootVersion(data []byte) (int64, error) {
	if len(data) == 0 {
		return 0, ErrNoRoots
	}
	m, err := metadata.Root().FromBytes(data)
	if err != nil {
		return 0, fmt.Errorf("update roots are not a valid TUF root.json: %w (print them with `orbitctl updates roots`)", err)
	}
	if err := checkRootKeys(m); err != nil {
		return 0, fmt.Errorf("update roots are not a valid TUF root.json: %w (print them with `orbitctl updates roots`)", err)
	}
	// A root must carry its own keys' signatures: go-tuf refuses it
	// otherwise on every check, long after orbit has started and said so.
	if err := m.VerifyDelegate(metadata.ROOT, m); err != nil {
		return 0, fmt.Errorf("update roots are not signed by their own root keys: %w (print the repository's with `orbitctl updates roots`)", err)
	}
	return m.Signed.Version, nil
}

// netStats counts what a check cost on the network.
type netStats struct {
	requests atomic.Int64
	bytes    atomic.Int64
}

// countingReader counts body bytes as they are read.
type countingReader struct {
	r     io.Reader
	stats *netStats
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.stats.bytes.Add(int64(n))
	return n, err
}

// get issues a GET bound to ctx and returns the response for a 200, or a
// go-tuf ErrDownloadHTTP (the root probe relies on its 404).
func get(ctx context.Context, client *http.Client, stats *netStats, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("build request for %s: %w", url, err)
	}
	req.Header.Set("User-Agent", "orbit-updater")
	stats.requests.Add(1)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, &metadata.ErrDownloadHTTP{StatusCode: resp.StatusCode, URL: url}
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{&countingReader{r: resp.Body, stats: stats}, resp.Body}
	return resp, nil
}

// fetcher is go-tuf's metadata fetcher, bound to one check's context and
// client. It never reads more than maxLength bytes and a chunk.
type fetcher struct {
	ctx    context.Context
	client *http.Client
	stats  *netStats
}

func (f *fetcher) DownloadFile(url string, maxLength int64, _ time.Duration) ([]byte, error) {
	resp, err := get(f.ctx, f.client, f.stats, url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.ContentLength > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s is %d bytes, more than the %d allowed", url, resp.ContentLength, maxLength)}
	}
	data, err := httpclient.ReadBody(resp.Body, maxLength)
	if errors.Is(err, httpclient.ErrBodyTooLarge) {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s is longer than the %d bytes allowed", url, maxLength)}
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", url, err)
	}
	return data, nil
}
