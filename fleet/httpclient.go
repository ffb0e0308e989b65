package fleet

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/rs/zerolog"
)

// HTTPConfig describes how the agent reaches Fleet.
type HTTPConfig struct {
	// CertificateFile is --fleet-certificate: a PEM bundle of the CAs that
	// sign Fleet's certificate. It replaces the system roots, as in Fleet's
	// orbit (osqueryd gets the same file as --tls_server_certs).
	CertificateFile string
	// Insecure is --insecure: skip certificate verification. Only honoured
	// when set explicitly; it cannot be combined with CertificateFile.
	Insecure bool
	// Proxy is --fleet-proxy (http://, https:// or socks5:// URL). Empty
	// means HTTPS_PROXY/HTTP_PROXY/NO_PROXY from the environment.
	Proxy string
	// Timeout is the overall backstop per request (default 60 s); the Client
	// also bounds each request with its own, usually shorter, timeout.
	Timeout time.Duration
	// Logger receives the --insecure warning.
	Logger zerolog.Logger
}

// NewHTTPClient builds the *http.Client for the Orbit API from the
// command-line TLS and proxy options.
func NewHTTPClient(cfg HTTPConfig) (*http.Client, error) {
	if cfg.Insecure && cfg.CertificateFile != "" {
		return nil, errors.New("--insecure and --fleet-certificate are mutually exclusive: pass the certificate and drop --insecure")
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12} // osquery requires TLS >= 1.2 too
	switch {
	case cfg.CertificateFile != "":
		pem, err := os.ReadFile(cfg.CertificateFile)
		if err != nil {
			return nil, fmt.Errorf("read --fleet-certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--fleet-certificate %s holds no PEM certificate: pass the CA bundle that signed Fleet's certificate", cfg.CertificateFile)
		}
		tlsCfg.RootCAs = pool
	case cfg.Insecure:
		tlsCfg.InsecureSkipVerify = true //nolint:gosec // explicit --insecure, warned about below
		cfg.Logger.Warn().Msg("tls certificate verification is disabled (--insecure): anyone on the network path can impersonate Fleet")
	}

	proxy := http.ProxyFromEnvironment
	if cfg.Proxy != "" {
		u, err := url.Parse(cfg.Proxy)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("invalid --fleet-proxy %q: use a URL such as http://proxy.example.com:3128", cfg.Proxy)
		}
		switch u.Scheme {
		case "http", "https", "socks5", "socks5h":
		default:
			return nil, fmt.Errorf("invalid --fleet-proxy scheme %q: use http, https or socks5", u.Scheme)
		}
		proxy = http.ProxyURL(u)
	}

	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	tr := &http.Transport{
		Proxy: proxy,
		DialContext: (&net.Dialer{
			Timeout:   15 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig:       tlsCfg,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}
