// Package tlsproxy is orbit's answer to --insecure for osqueryd. osqueryd
// has no switch to skip certificate checks, so, as Fleet's agent does,
// orbit runs a TLS proxy on 127.0.0.1 that osqueryd trusts (through a
// certificate made at start) and forwards every request to the Fleet URL
// through orbit's own HTTP client, the one built with --insecure.
//
// Unlike Fleet's proxy, the certificate is not a key pair shipped in the
// binary: each start makes a fresh ECDSA key that never leaves memory and a
// short-lived certificate for 127.0.0.1 and localhost, renewed before it
// expires. Nothing listens beyond the loopback address, and bodies are
// streamed with a size bound in both directions.
package tlsproxy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/clock"
	"github.com/orbitagent/orbit/internal/safefile"
)

// Defaults for Config.
const (
	// DefaultMaxBodyBytes bounds each request and answer body: far above
	// osquery's largest (a 2 MB carve block, a log batch, a config).
	DefaultMaxBodyBytes = 64 << 20
	// DefaultCertLifetime is short: the certificate only has to outlive
	// the orbit process, and it is renewed at two thirds of its life.
	DefaultCertLifetime = 30 * 24 * time.Hour
	// certBackdate covers a clock that moved back a little since start.
	certBackdate = 5 * time.Minute
	// renewRetry is the wait after a renewal that failed (disk full...).
	renewRetry = time.Minute
	// shutdownGrace bounds how long Run waits for requests in flight.
	shutdownGrace = 5 * time.Second
)

// Config configures a Proxy.
type Config struct {
	// FleetURL is where requests go: https://host[:port][/prefix]. The
	// prefix goes before every path osqueryd asks for, so osqueryd's
	// endpoints stay /api/v1/osquery/... behind the proxy.
	FleetURL string
	// Client reaches Fleet: orbit builds it with --insecure (and
	// --fleet-proxy). Redirects are never followed by the proxy: they go
	// back to osqueryd, which trusts no one but the proxy.
	Client *http.Client
	// CertFile is where the certificate's PEM is written, for osqueryd's
	// --tls_server_certs. Only the certificate: the key stays in memory.
	CertFile string
	// MaxBodyBytes bounds each request and answer body (default 64 MiB).
	MaxBodyBytes int64
	// CertLifetime is each certificate's validity (default 30 days).
	CertLifetime time.Duration
	// OnRenew is called after a renewed certificate was written, so that
	// osqueryd is restarted and reads it. Optional.
	OnRenew func()
	// Clock times the renewals (default the real clock).
	Clock  clock.Clock
	Logger zerolog.Logger
}

// Validate checks the configuration.
func (c Config) Validate() error {
	u, err := url.Parse(c.FleetURL)
	switch {
	case err != nil:
		return fmt.Errorf("tls proxy: --fleet-url %q is not a URL: %w", c.FleetURL, err)
	case u.Scheme != "https" || u.Host == "":
		return fmt.Errorf("tls proxy: --fleet-url %q must be https://host[:port][/prefix]", c.FleetURL)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("tls proxy: --fleet-url %q must have no credentials, query or fragment", c.FleetURL)
	case c.Client == nil:
		return errors.New("tls proxy: no HTTP client to reach Fleet (build it with --insecure)")
	case c.CertFile == "":
		return errors.New("tls proxy: no path for the certificate osqueryd must trust")
	case c.MaxBodyBytes < 0 || c.CertLifetime < 0:
		return errors.New("tls proxy: negative body limit or certificate lifetime")
	case c.CertLifetime > 0 && c.CertLifetime < time.Hour:
		return errors.New("tls proxy: a certificate lifetime under an hour would restart osqueryd all the time")
	}
	return nil
}

// Proxy is the TLS proxy. Create it with New, which makes the certificate
// and starts listening, so Addr and CertFile are known before osqueryd's
// command line is built; Run serves.
type Proxy struct {
	cfg    Config
	host   string // Fleet's host[:port]
	base   string // https://host[:port] and the escaped path prefix
	client *http.Client
	log    zerolog.Logger
	clock  clock.Clock
	max    int64
	life   time.Duration
	addr   string

	cert atomic.Pointer[issued]

	mu sync.Mutex
	ln net.Listener // nil between runs
}

// issued is a certificate being served.
type issued struct {
	tls      tls.Certificate
	leaf     *x509.Certificate
	notAfter time.Time
}

// New makes a fresh certificate, writes its PEM to CertFile and listens on
// 127.0.0.1 with a port the kernel picks.
func New(cfg Config) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.FleetURL) // checked by Validate
	p := &Proxy{
		cfg:   cfg,
		host:  u.Host,
		base:  u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/"),
		log:   cfg.Logger.With().Str("component", "tls_proxy").Logger(),
		clock: cfg.Clock,
		max:   cfg.MaxBodyBytes,
		life:  cfg.CertLifetime,
	}
	if p.clock == nil {
		p.clock = clock.Real()
	}
	if p.max == 0 {
		p.max = DefaultMaxBodyBytes
	}
	if p.life == 0 {
		p.life = DefaultCertLifetime
	}
	client := *cfg.Client
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	p.client = &client
	if err := p.renew(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("tls proxy: listen on 127.0.0.1 (is the loopback interface up?): %w", err)
	}
	p.ln = ln
	p.addr = ln.Addr().String()
	return p, nil
}

// Addr is 127.0.0.1:port, osqueryd's --tls_hostname.
func (p *Proxy) Addr() string { return p.addr }

// CertFile is the PEM osqueryd trusts, its --tls_server_certs.
func (p *Proxy) CertFile() string { return p.cfg.CertFile }

// Run serves until ctx ends, renewing the certificate on time. It returns
// nil when ctx ends; it may be called again after it returned (the group
// restarts an actor that failed), and listens on the same address again.
func (p *Proxy) Run(ctx context.Context) error {
	ln, err := p.listener()
	if err != nil {
		return err
	}
	tlsCfg := &tls.Config{
		MinVersion:     tls.VersionTLS12, // what osquery requires
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &p.cert.Load().tls, nil },
	}
	srv := &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(debugWriter{p.log}, "", 0),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(tls.NewListener(ln, tlsCfg)) }()
	p.log.Info().Str("addr", p.addr).Msg("insecure tls proxy for osqueryd listening")

	timer := p.clock.NewTimer(p.untilRenewal())
	defer func() { timer.Stop() }()
	for {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
			_ = srv.Shutdown(sctx)
			cancel()
			_ = srv.Close()
			<-served
			p.dropListener()
			return nil
		case err := <-served:
			p.dropListener()
			return fmt.Errorf("tls proxy stopped serving: %w", err)
		case <-timer.C():
			next := renewRetry
			if err := p.renew(); err != nil {
				p.log.Error().Err(err).Msg("cannot renew the tls proxy certificate, retrying")
			} else {
				next = p.untilRenewal()
				p.log.Info().Time("not_after", p.cert.Load().notAfter).Msg("tls proxy certificate renewed")
				if p.cfg.OnRenew != nil {
					p.cfg.OnRenew()
				}
			}
			timer = p.clock.NewTimer(next)
		}
	}
}

func (p *Proxy) listener() (net.Listener, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		ln, err := net.Listen("tcp", p.addr)
		if err != nil {
			return nil, fmt.Errorf("tls proxy: listen again on %s (osqueryd was told this address): %w", p.addr, err)
		}
		p.ln = ln
	}
	return p.ln, nil
}

func (p *Proxy) dropListener() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
}

// untilRenewal is the time left until two thirds of the certificate's life.
func (p *Proxy) untilRenewal() time.Duration {
	c := p.cert.Load()
	at := c.notAfter.Add(-p.life / 3)
	if d := at.Sub(p.clock.Now()); d > 0 {
		return d
	}
	return 0
}

// renew makes a new key and certificate, writes the certificate's PEM,
// then serves it (in that order: osqueryd must be able to trust what it
// is shown once it reads the file).
func (p *Proxy) renew() error {
	now := p.clock.Now()
	c, certPEM, err := newCertificate(now, p.life)
	if err != nil {
		return fmt.Errorf("tls proxy: make a certificate: %w", err)
	}
	// 0644: a certificate is public; osqueryd only has to read it.
	if err := safefile.WriteAtomic(p.cfg.CertFile, certPEM, 0o644); err != nil {
		return fmt.Errorf("tls proxy: write the certificate osqueryd trusts: %w", err)
	}
	p.cert.Store(c)
	return nil
}

// newCertificate makes a self-signed ECDSA P-256 certificate for
// 127.0.0.1 and localhost. It is marked as a CA, as `openssl req -x509`
// does, so that OpenSSL (osqueryd) accepts it as its own trust anchor.
func newCertificate(now time.Time, life time.Duration) (*issued, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "orbit insecure proxy for osqueryd"},
		NotBefore:             now.Add(-certBackdate),
		NotAfter:              now.Add(life),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	c := &issued{
		tls:      tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		leaf:     leaf,
		notAfter: leaf.NotAfter,
	}
	return c, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// hopByHop are the headers of one connection, never forwarded (RFC 9110
// 7.6.1), plus Proxy-Authorization, which was meant for this hop only.
var hopByHop = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// copyHeaders copies src to dst without hop-by-hop headers, those named
// in Connection included.
func copyHeaders(dst, src http.Header) {
	skip := map[string]bool{}
	for _, h := range hopByHop {
		skip[h] = true
	}
	for _, v := range src.Values("Connection") {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				skip[http.CanonicalHeaderKey(name)] = true
			}
		}
	}
	for k, vs := range src {
		if skip[http.CanonicalHeaderKey(k)] || k == "Content-Length" {
			continue
		}
		dst[k] = append([]string(nil), vs...)
	}
}

// ServeHTTP forwards one request to Fleet and streams the answer back.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/") {
		http.Error(w, "tls proxy: only origin-form paths are forwarded", http.StatusBadRequest)
		return
	}
	if r.ContentLength > p.max {
		p.log.Warn().Str("method", r.Method).Int64("bytes", r.ContentLength).Msg("request body over the tls proxy limit refused")
		http.Error(w, "tls proxy: request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	target := p.base + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, target, nil)
	if err != nil {
		http.Error(w, "tls proxy: bad request line", http.StatusBadRequest)
		return
	}
	out.Host = p.host
	copyHeaders(out.Header, r.Header)
	out.ContentLength = r.ContentLength
	if r.ContentLength != 0 {
		out.Body = http.MaxBytesReader(w, r.Body, p.max)
	} else {
		out.Body = http.NoBody
	}
	resp, err := p.client.Do(out)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			p.log.Warn().Str("method", r.Method).Msg("request body over the tls proxy limit refused")
			http.Error(w, "tls proxy: request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if r.Context().Err() == nil {
			// url.Error names the URL; log only the cause.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			p.log.Warn().Err(err).Str("method", r.Method).Msg("tls proxy cannot reach fleet")
		}
		http.Error(w, "tls proxy: fleet unreachable", http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	if resp.ContentLength > p.max {
		p.log.Warn().Str("method", r.Method).Int64("bytes", resp.ContentLength).Msg("answer over the tls proxy limit refused")
		http.Error(w, "tls proxy: answer too large", http.StatusBadGateway)
		return
	}
	copyHeaders(w.Header(), resp.Header)
	if resp.ContentLength > 0 {
		w.Header().Set("Content-Length", fmt.Sprint(resp.ContentLength))
	}
	w.WriteHeader(resp.StatusCode)
	n, err := io.Copy(w, io.LimitReader(resp.Body, p.max+1))
	if n > p.max || err != nil && r.Context().Err() == nil {
		if n > p.max {
			p.log.Warn().Str("method", r.Method).Msg("answer over the tls proxy limit cut off")
		}
		// Break the connection: osqueryd must see a failed answer, not a
		// complete-looking short one.
		panic(http.ErrAbortHandler)
	}
}

// debugWriter sends net/http's own error lines (TLS handshakes of
// scanners, ...) to the log at debug level.
type debugWriter struct{ log zerolog.Logger }

func (d debugWriter) Write(b []byte) (int, error) {
	d.log.Debug().Str("error", strings.TrimSpace(string(b))).Msg("tls proxy connection error")
	return len(b), nil
}
