package updater

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/trustedmetadata"

	"github.com/orbitagent/orbit/internal/regularfile"
)

// maxRootJSON bounds a root given on the command line or in a file.
const maxRootJSON = 512 << 10

// ParseRoots reads the --update-roots value: root JSON given inline (a value
// starting with "{") or the path of a regular file. It returns the bytes only
// if go-tuf loads them as a trusted root (a root.json signed by a threshold
// of its own root keys). A value or file over maxRootJSON is refused by its
// size, a FIFO or device without blocking.
func ParseRoots(value string) ([]byte, error) {
	v := strings.TrimSpace(value)
	if v == "" {
		return nil, errors.New("update roots are empty: pass the repository's root.json (inline or a file path) with --update-roots")
	}
	var data []byte
	if strings.HasPrefix(v, "{") {
		if len(v) > maxRootJSON {
			return nil, fmt.Errorf("inline update roots are %d bytes, larger than %d: it is not a TUF root.json", len(v), maxRootJSON)
		}
		data = []byte(v)
	} else {
		d, err := regularfile.ReadFile(v, maxRootJSON)
		if err != nil {
			return nil, fmt.Errorf("read update roots file: %w (pass the root JSON inline or the path of a root.json)", err)
		}
		data = d
	}
	if err := checkRootKeys(data); err != nil {
		return nil, fmt.Errorf("update roots are not a valid TUF root.json: %w (print them with `orbitctl updates roots`)", err)
	}
	if _, err := trustedmetadata.New(data); err != nil {
		return nil, fmt.Errorf("update roots are not a TUF root.json signed by its own root keys: %w (print them with `orbitctl updates roots`)", err)
	}
	return data, nil
}

// checkRootKeys refuses a root with a key go-tuf cannot use: go-tuf v2.4.2
// hands an ed25519 key of any length to crypto/ed25519, which panics on
// one that is not 32 bytes (found by FuzzParseRoots).
func checkRootKeys(data []byte) error {
	m, err := metadata.Root().FromBytes(data)
	if err != nil {
		return err
	}
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
	m, err := metadata.Root().FromBytes(data)
	if err != nil {
		return 0, fmt.Errorf("update roots are not a valid TUF root.json: %w (print them with `orbitctl updates roots`)", err)
	}
	return m.Signed.Version, nil
}

// HTTPOptions configures NewHTTPClient.
type HTTPOptions struct {
	// CAFile is a PEM bundle that replaces the system roots for the update
	// server (--update-tls-certificate).
	CAFile string
	// DialTimeout and HeaderTimeout bound connecting and waiting for the
	// response headers; zero means 30 s each.
	DialTimeout   time.Duration
	HeaderTimeout time.Duration
}

// NewHTTPClient returns the client the updater should use: its own transport
// (proxy from the environment, bounded connect/TLS/header waits), so the
// global http.DefaultClient is never touched. Body reads are bounded by the
// updater's per-operation deadlines.
func NewHTTPClient(opts HTTPOptions) (*http.Client, error) {
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 30 * time.Second
	}
	if opts.HeaderTimeout <= 0 {
		opts.HeaderTimeout = 30 * time.Second
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read update TLS certificate: %w (check --update-tls-certificate)", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("update TLS certificate %s holds no PEM certificate: pass a PEM bundle", opts.CAFile)
		}
		tlsCfg.RootCAs = pool
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   opts.DialTimeout,
		ResponseHeaderTimeout: opts.HeaderTimeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   2,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{Transport: tr}, nil
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
// client. It never reads more than maxLength+1 bytes.
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
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxLength+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", url, err)
	}
	if int64(len(data)) > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s is longer than the %d bytes allowed", url, maxLength)}
	}
	return data, nil
}
