// Package httpclient builds orbit's HTTP clients (to Fleet, to the update
// server, and next for the tray app and the packager's downloads) from one
// set of rules: a CA bundle that replaces the system roots, an explicit
// insecure switch that is warned about, a proxy URL or the proxy
// environment, bounded waits, TLS 1.2 or newer. Each client has its own
// transport: the global http.DefaultClient is never touched. ReadBody is
// the bounded reader for the answers.
package httpclient

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/internal/safefile"
)

// Defaults of Config.
const (
	DefaultDialTimeout   = 30 * time.Second
	DefaultHeaderTimeout = 30 * time.Second
)

// Config describes a client.
type Config struct {
	// CAFile is a PEM bundle of the CAs that sign the server's certificate.
	// It replaces the system roots (osqueryd gets the same file as
	// --tls_server_certs, and trusts only it too).
	CAFile string
	// Insecure skips certificate verification. It must be asked for
	// explicitly, cannot be combined with CAFile, and is warned about.
	Insecure bool
	// Proxy is a proxy URL (http, https, socks5 or socks5h). Empty means
	// HTTPS_PROXY, HTTP_PROXY and NO_PROXY from the environment.
	Proxy string
	// DialTimeout bounds connecting and the TLS handshake [30 s].
	DialTimeout time.Duration
	// HeaderTimeout bounds the wait for response headers [30 s].
	HeaderTimeout time.Duration
	// Timeout bounds a whole exchange, body included [none: callers bound
	// long downloads with their own deadlines].
	Timeout time.Duration
	// CheckRedirect is the redirect policy; nil is SameOrigin.
	CheckRedirect func(req *http.Request, via []*http.Request) error
	// Logger receives the insecure warning.
	Logger zerolog.Logger
}

// ErrInsecureWithCA is Validate's error for Insecure with a CAFile.
var ErrInsecureWithCA = errors.New("insecure and a CA bundle are mutually exclusive: with a CA bundle, verification can stay on")

// Validate checks the options without reading files.
func (c Config) Validate() error {
	if c.Insecure && c.CAFile != "" {
		return ErrInsecureWithCA
	}
	if c.Proxy != "" {
		if err := ValidateProxy(c.Proxy); err != nil {
			return err
		}
	}
	if c.DialTimeout < 0 || c.HeaderTimeout < 0 || c.Timeout < 0 {
		return errors.New("HTTP client timeouts must not be negative")
	}
	return nil
}

// ValidateProxy is the one rule for a proxy URL: a host, one of the
// schemes the transport speaks, and no credentials. The error reads after
// the option's name ("--fleet-proxy %w").
func ValidateProxy(raw string) error {
	if err := CheckNoCredentials(raw); err != nil {
		return err
	}
	if _, err := parseProxy(raw); err != nil {
		return fmt.Errorf("%q is not a proxy URL: %w", raw, err)
	}
	return nil
}

func parseProxy(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, errors.New("use one like http://proxy.example.com:3128")
	}
	if err := CheckPort(u); err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "http", "https", "socks5", "socks5h":
		return u, nil
	}
	return nil, fmt.Errorf("scheme %q is not supported: use http, https, socks5 or socks5h", u.Scheme)
}

// CheckPort refuses a URL whose port is outside 1-65535: url.Parse takes
// any digits, and the dial would only fail later, on every try.
func CheckPort(u *url.URL) error {
	p := u.Port()
	if p == "" {
		return nil
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %s is out of range: use a port from 1 to 65535", p)
	}
	return nil
}

// errCredentials is CheckNoCredentials' error; it reads after the
// option's name ("--fleet-url %w").
var errCredentials = errors.New("must not carry credentials (user:password@): local users can read them from the process list; for a proxy, set HTTPS_PROXY in orbit's environment instead")

// CheckNoCredentials refuses a URL with user:password@ in it. orbit's
// URLs come from its command line, which local users can read (so can the
// service's unit file and osqueryd's --proxy_hostname); the error never
// repeats the URL.
func CheckNoCredentials(rawURL string) error {
	if u, err := url.Parse(rawURL); err == nil && u.User != nil {
		return errCredentials
	}
	return nil
}

// New builds a client for cfg.
func New(cfg Config) (*http.Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.HeaderTimeout == 0 {
		cfg.HeaderTimeout = DefaultHeaderTimeout
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12} // osquery requires TLS >= 1.2 too
	switch {
	case cfg.CAFile != "":
		pool, err := LoadCABundle(cfg.CAFile)
		if err != nil {
			return nil, err
		}
		tlsCfg.RootCAs = pool
	case cfg.Insecure:
		tlsCfg.InsecureSkipVerify = true //nolint:gosec // explicit --insecure, warned about below
		cfg.Logger.Warn().Msg("tls certificate verification is disabled (--insecure): anyone on the network path can impersonate the server")
	}
	proxy := http.ProxyFromEnvironment
	if cfg.Proxy != "" {
		u, _ := parseProxy(cfg.Proxy) // checked by Validate
		proxy = http.ProxyURL(u)
	}
	tr := &http.Transport{
		Proxy:                 proxy,
		DialContext:           (&net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   cfg.DialTimeout,
		ResponseHeaderTimeout: cfg.HeaderTimeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          4,
		MaxIdleConnsPerHost:   2,
		ForceAttemptHTTP2:     true,
	}
	if cfg.CheckRedirect == nil {
		cfg.CheckRedirect = SameOrigin
	}
	return &http.Client{Transport: tr, Timeout: cfg.Timeout, CheckRedirect: cfg.CheckRedirect}, nil
}

// ErrRedirectRefused is the error of a redirect SameOrigin does not follow.
var ErrRedirectRefused = errors.New("redirect refused")

// maxRedirects is as many hops as net/http follows by default.
const maxRedirects = 10

// SameOrigin is the redirect policy of orbit's clients (the Orbit API, the
// update fetcher, the tray app's device API): a redirect is followed only
// to the scheme, host and port of the first request. net/http's default
// follows any redirect, and re-sends the body on a 307 or 308, so a server
// (or anyone who can answer for it) could have the enroll secret, the node
// key or the device token sent to another host, or over plain http. The
// error names the origins, never a path (a device token is in one).
func SameOrigin(req *http.Request, via []*http.Request) error {
	if len(via) == 0 {
		return nil
	}
	from, to := origin(via[0].URL), origin(req.URL)
	if from != to {
		return fmt.Errorf("%w: %s redirected to %s; orbit follows redirects only within one scheme, host and port: point orbit at the address the server redirects to", ErrRedirectRefused, from, to)
	}
	if len(via) >= maxRedirects {
		return fmt.Errorf("%w: %s redirected %d times", ErrRedirectRefused, from, len(via))
	}
	return nil
}

// WithSameOrigin returns a copy of hc that follows the SameOrigin policy,
// for clients that carry a secret whatever client they were given.
func WithSameOrigin(hc *http.Client) *http.Client {
	c := *hc
	c.CheckRedirect = SameOrigin
	return &c
}

// origin is scheme://host:port, with the scheme's default port spelled
// out and the host in lower case.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return u.Scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// LoadCABundle reads a PEM bundle of CA certificates (at most
// safefile.MaxCABundle, a regular file) into a pool. New calls it; callers
// that must refuse a bad bundle before they change anything call it first.
func LoadCABundle(path string) (*x509.CertPool, error) {
	pem, err := safefile.ReadLimited(path, safefile.MaxCABundle)
	if err != nil {
		return nil, fmt.Errorf("read CA bundle: %w (pass a readable PEM file)", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA bundle %s holds no PEM certificate: pass the PEM bundle of the CAs that sign the server's certificate", path)
	}
	return pool, nil
}

// ErrBodyTooLarge is ReadBody's error for a body over its limit.
var ErrBodyTooLarge = errors.New("response body is larger than the allowed limit")

// readChunk is the unit ReadBody reads in.
const readChunk = 64 << 10

// ReadBody reads a whole body of at most max bytes. It reads in fixed
// chunks and joins them once, instead of io.ReadAll's doubling buffer, so a
// broken server answering with endless data costs at most max bytes of
// garbage per answer, not several times that.
func ReadBody(r io.Reader, max int64) ([]byte, error) {
	var chunks [][]byte
	var total int64
	for {
		buf := make([]byte, readChunk)
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			total += int64(n)
			if total > max {
				return nil, ErrBodyTooLarge
			}
			chunks = append(chunks, buf[:n])
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if len(chunks) == 1 {
		return chunks[0], nil
	}
	return bytes.Join(chunks, nil), nil
}
