package fleettest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/clock"
)

// CapabilitiesHeader is the header both sides use to announce capabilities.
const CapabilitiesHeader = "X-Fleet-Capabilities"

// DefaultCapabilities is what Fleet's server announces today
// (server/fleet/capabilities.go GetServerOrbitCapabilities), unless
// SetCapabilities is called. Fleet builds the header from a Go map, so its
// order varies; ours is fixed.
const DefaultCapabilities = "orbit_endpoints,token_rotation,end_user_email,escrow_buddy," +
	"linux_disk_encryption_escrow,luks_recovery_key_escrow,setup_experience,web_setup_experience,macos_web_setup_experience"

// maxBodyBytes bounds request bodies; larger requests get 413.
const maxBodyBytes = 10 << 20

// Config configures a Server. The zero value serves plain HTTP on
// 127.0.0.1:0 with no valid enroll secret.
type Config struct {
	// EnrollSecrets are the secrets accepted by the Orbit and osquery enroll calls.
	EnrollSecrets []string
	// TLS serves HTTPS with a generated CA (see CACertFile).
	TLS bool
	// Addr is the listen address; default "127.0.0.1:0".
	Addr string
	// CertDir is where the CA PEM is written; default a temporary directory
	// removed by Close.
	CertDir string
	// AllowUnknownFields accepts unknown JSON fields on the Orbit API like
	// Fleet does; by default they are a 400 (see package doc).
	AllowUnknownFields bool
	// Logger receives one debug line per request; the zero value logs nothing.
	Logger zerolog.Logger
	// Clock stamps calls and measures Fault.For and token age; default
	// clock.Real().
	Clock clock.Clock
	// DeviceTokenTTL is how long a device token stays valid after it was
	// registered; default 1h as Fleet; negative means forever.
	DeviceTokenTTL time.Duration
}

// Server is an in-memory Fleet server. Create it with New; all methods are
// safe for concurrent use.
type Server struct {
	cfg   Config
	log   zerolog.Logger
	now   func() time.Time
	route []route

	mu     sync.Mutex
	st     state
	calls  []Call
	notify chan struct{} // closed and replaced on each recorded call
	faults map[string]*faultEntry

	srv       *http.Server
	ln        net.Listener
	url       string
	certs     *certs
	caFile    string
	ownDir    string
	closeOnce sync.Once
}

type faultEntry struct {
	f         Fault
	expires   time.Time // zero: never
	remaining int       // 0: unlimited
}

// New returns a Server that is not listening yet; call Start, or mount Handler.
func New(cfg Config) *Server {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	s := &Server{cfg: cfg, now: cfg.Clock.Now, notify: make(chan struct{}), faults: map[string]*faultEntry{}}
	s.log = cfg.Logger.With().Str("component", "fleettest").Logger()
	s.st = newState()
	s.route = s.routes()
	return s
}

// Start listens on Config.Addr (default 127.0.0.1:0) and serves in the background.
func (s *Server) Start() error {
	if s.srv != nil {
		return errors.New("fleettest: Start called twice: create a new Server instead")
	}
	addr := s.cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("fleettest: listen on %s (choose a free port): %w", addr, err)
	}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		// A non-nil empty map disables HTTP/2, so faults can hijack connections.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		// TLS handshake failures from untrusting clients are expected in tests:
		// keep them out of stderr, at debug level.
		ErrorLog: log.New(httpErrorWriter{s.log}, "", 0),
	}
	scheme := "http"
	if s.cfg.TLS {
		c, err := newCerts(time.Now())
		if err != nil {
			ln.Close()
			return fmt.Errorf("fleettest: generate TLS certificates: %w", err)
		}
		s.certs = c
		dir := s.cfg.CertDir
		if dir == "" {
			dir, err = os.MkdirTemp("", "fleettest-")
			if err != nil {
				ln.Close()
				return fmt.Errorf("fleettest: create a directory for the CA file (check TMPDIR): %w", err)
			}
			s.ownDir = dir
		}
		s.caFile = filepath.Join(dir, "fleettest-ca.pem")
		if err := os.WriteFile(s.caFile, c.caPEM, 0o644); err != nil {
			ln.Close()
			return fmt.Errorf("fleettest: write CA certificate to %s: %w", s.caFile, err)
		}
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{c.leaf}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, s.srv.TLSConfig)
		scheme = "https"
	}
	s.ln = ln
	s.url = scheme + "://" + ln.Addr().String()
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error().Err(err).Msg("serve failed")
		}
	}()
	return nil
}

// URL is the base URL, e.g. https://127.0.0.1:43210 ("" before Start).
func (s *Server) URL() string { return s.url }

// CACertFile is the PEM file of the CA that signed the server certificate
// ("" without TLS).
func (s *Server) CACertFile() string { return s.caFile }

// CACertPEM returns the CA certificate in PEM (nil without TLS).
func (s *Server) CACertPEM() []byte {
	if s.certs == nil {
		return nil
	}
	return append([]byte(nil), s.certs.caPEM...)
}

// Client returns an HTTP client that trusts the server's CA.
func (s *Server) Client() *http.Client {
	tr := &http.Transport{Proxy: nil, ForceAttemptHTTP2: false}
	if s.certs != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: s.certs.pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}
}

// Handler returns the server's handler, to mount without Start.
func (s *Server) Handler() http.Handler { return s }

// Close stops serving, closes all connections and removes the temporary CA directory.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		if s.srv != nil {
			s.srv.Close()
		}
		if s.ownDir != "" {
			os.RemoveAll(s.ownDir)
		}
	})
}

// reqCtx is what a route handler gets.
type reqCtx struct {
	w      http.ResponseWriter
	r      *http.Request
	body   []byte
	params map[string]string
}

// ServeHTTP records the call, applies faults, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_admin/") {
		s.serveAdmin(w, r)
		return
	}
	rw := &recWriter{ResponseWriter: w}
	body, readErr := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	call := Call{
		Time:         s.now(),
		Method:       r.Method,
		Path:         r.URL.Path,
		Capabilities: r.Header.Get(CapabilitiesHeader),
		Header:       r.Header.Clone(),
		BytesIn:      int64(len(body)),
	}
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '{' {
		var m map[string]any
		if json.Unmarshal(t, &m) == nil {
			call.Body = m
		}
	}
	rt, params, methodOK := s.match(r.Method, r.URL.Path)
	if rt != nil {
		call.Route = rt.template
	}
	defer func() {
		call.Status = rw.status
		if rw.hijacked {
			call.Status = 0
		} else if call.Status == 0 {
			call.Status = http.StatusOK
		}
		call.BytesOut = rw.n
		s.record(call)
		s.log.Debug().Str("method", call.Method).Str("route", call.Route).Int("status", call.Status).
			Int64("bytes_in", call.BytesIn).Int64("bytes_out", call.BytesOut).Bool("faulted", call.Fault != nil).
			Msg("request")
	}()

	api := apiOf(r.URL.Path)
	if f, ok := s.takeFault(r.Method, r.URL.Path); ok {
		fc := f
		call.Fault = &fc
		if s.applyFault(rw, r, f, api) {
			return
		}
	}
	if readErr != nil {
		badRequest(rw, "read request body: "+readErr.Error())
		return
	}
	if len(body) > maxBodyBytes {
		writeFleetError(rw, http.StatusRequestEntityTooLarge, "Request Entity Too Large", "request body too large")
		return
	}
	if rt == nil {
		http.NotFound(rw, r)
		return
	}
	if !methodOK {
		// gorilla/mux answers a method mismatch with a bare 405.
		rw.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	rt.h(&reqCtx{w: rw, r: r, body: body, params: params})
}

type apiKind int

const (
	apiOther apiKind = iota
	apiOrbit
	apiOsquery
	apiDevice
	apiPage
)

func apiOf(path string) apiKind {
	switch {
	case strings.HasPrefix(path, "/api/fleet/orbit/"):
		return apiOrbit
	case strings.HasPrefix(path, "/api/osquery/"), strings.HasPrefix(path, "/api/v1/osquery/"):
		return apiOsquery
	case strings.Contains(path, "/fleet/device/"):
		return apiDevice
	case strings.HasPrefix(path, "/device/"):
		return apiPage
	}
	return apiOther
}

// recWriter counts bytes and remembers the status; it forwards Hijack.
type recWriter struct {
	http.ResponseWriter
	status   int
	n        int64
	hijacked bool
}

func (w *recWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

func (w *recWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *recWriter) hijack() (net.Conn, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, errors.New("response writer cannot hijack (HTTP/2 or a test recorder)")
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return nil, err
	}
	w.hijacked = true
	return conn, nil
}

// record appends a call and wakes WaitForCall.
func (s *Server) record(c Call) {
	s.mu.Lock()
	s.calls = append(s.calls, c)
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
}

// Calls returns a copy of every recorded call, oldest first.
func (s *Server) Calls() []Call {
	return s.CallsMatching(CallFilter{})
}

// CallsMatching returns the recorded calls that match f, oldest first.
func (s *Server) CallsMatching(f CallFilter) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if f.match(c) {
			out = append(out, copyCall(c))
		}
	}
	return out
}

// ResetCalls forgets all recorded calls.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	s.calls = nil
	s.mu.Unlock()
}

// WaitForCall returns the first recorded call matching f, waiting for one
// until ctx is done.
func (s *Server) WaitForCall(ctx context.Context, f CallFilter) (Call, error) {
	for {
		s.mu.Lock()
		for _, c := range s.calls {
			if f.match(c) {
				s.mu.Unlock()
				return copyCall(c), nil
			}
		}
		ch := s.notify
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return Call{}, fmt.Errorf("fleettest: no call matching %+v: %w", f, ctx.Err())
		}
	}
}

// WaitForCalls waits until at least n calls match f and returns them.
func (s *Server) WaitForCalls(ctx context.Context, f CallFilter, n int) ([]Call, error) {
	for {
		s.mu.Lock()
		var got []Call
		for _, c := range s.calls {
			if f.match(c) {
				got = append(got, copyCall(c))
			}
		}
		ch := s.notify
		s.mu.Unlock()
		if len(got) >= n {
			return got, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return got, fmt.Errorf("fleettest: %d of %d calls matching %+v: %w", len(got), n, f, ctx.Err())
		}
	}
}

func copyCall(c Call) Call {
	c.Header = c.Header.Clone()
	if c.Body != nil {
		m := make(map[string]any, len(c.Body))
		for k, v := range c.Body {
			m[k] = v
		}
		c.Body = m
	}
	if c.Fault != nil {
		f := *c.Fault
		c.Fault = &f
	}
	return c
}

// httpErrorWriter turns net/http's error log lines into debug events.
type httpErrorWriter struct{ log zerolog.Logger }

func (w httpErrorWriter) Write(p []byte) (int, error) {
	w.log.Debug().Str("error", strings.TrimSpace(string(p))).Msg("http server error")
	return len(p), nil
}
