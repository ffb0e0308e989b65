package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/orbitagent/orbit/internal/httpclient"
)

// Orbit API paths (Fleet's server/service/handler.go).
const (
	PathEnroll        = "/api/fleet/orbit/enroll"
	PathConfig        = "/api/fleet/orbit/config"
	PathPing          = "/api/fleet/orbit/ping"
	PathDeviceToken   = "/api/fleet/orbit/device_token"
	PathDeviceMapping = "/api/fleet/orbit/device_mapping"
	PathScriptRequest = "/api/fleet/orbit/scripts/request"
	PathScriptResult  = "/api/fleet/orbit/scripts/result"
)

// CapabilitiesHeader carries comma-separated capabilities both ways.
const CapabilitiesHeader = "X-Fleet-Capabilities"

// Server capabilities the agent looks at.
const (
	CapabilityOrbitEndpoints = "orbit_endpoints"
	CapabilityTokenRotation  = "token_rotation"
)

const (
	// DefaultMaxBodyBytes bounds every response body the client reads.
	DefaultMaxBodyBytes = 10 << 20
	// DefaultRequestTimeout bounds every request, connection to last byte.
	DefaultRequestTimeout = 30 * time.Second
	// maxErrorBody is how much of an error response is read for its message.
	maxErrorBody = 4 << 10
)

// HTTPClientConfig completes c (CA bundle, insecure, proxy, logger: the
// --fleet-* options) with the waits of the Orbit API where c leaves them
// unset: 15 s to connect, 60 s for headers and a whole exchange. The
// Client also bounds each request with its own, usually shorter, timeout.
func HTTPClientConfig(c httpclient.Config) httpclient.Config {
	if c.DialTimeout == 0 {
		c.DialTimeout = 15 * time.Second
	}
	if c.HeaderTimeout == 0 {
		c.HeaderTimeout = 60 * time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = 60 * time.Second
	}
	return c
}

// ClientConfig configures a Client.
type ClientConfig struct {
	// URL is the Fleet server, e.g. https://fleet.example.com (a path prefix
	// is kept).
	URL string
	// HTTPClient carries TLS and proxy settings: httpclient.New of
	// HTTPClientConfig. Nil means one with the system roots and the proxy
	// environment.
	HTTPClient *http.Client
	// Version is orbit's version, sent in the User-Agent.
	Version string
	// Capabilities are sent in X-Fleet-Capabilities. Nil sends an empty list:
	// none of the client capabilities Fleet defines today (escrow_buddy,
	// setup_experience, end_user_auth, windows_mdm_sync) is implemented, and
	// advertising end_user_auth would make the server demand SSO at enroll.
	Capabilities []string
	// RequestTimeout bounds each request (default 30 s).
	RequestTimeout time.Duration
	// MaxBodyBytes bounds each response body (default 10 MiB).
	MaxBodyBytes int64
}

// Client speaks Fleet's Orbit API. It is safe for concurrent use.
type Client struct {
	base *url.URL
	http *http.Client
	// download is http without the overall timeout: a package download is
	// bounded by its own, longer, deadline.
	download  *http.Client
	userAgent string
	caps      string
	timeout   time.Duration
	maxBody   int64

	mu         sync.Mutex
	nodeKey    string
	serverCaps map[string]bool
}

// ValidateURL is the rule for the Fleet server's URL: http(s), a host,
// and no credentials.
func ValidateURL(raw string) error {
	if err := httpclient.CheckNoCredentials(raw); err != nil {
		return fmt.Errorf("--fleet-url %w", err)
	}
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("invalid Fleet URL %q: pass --fleet-url as https://host[:port]", raw)
	}
	if err := httpclient.CheckPort(u); err != nil {
		return fmt.Errorf("--fleet-url %q: %w", raw, err)
	}
	return nil
}

// NewClient validates cfg and returns a Client.
func NewClient(cfg ClientConfig) (*Client, error) {
	if err := ValidateURL(cfg.URL); err != nil {
		return nil, err
	}
	u, _ := url.Parse(strings.TrimRight(cfg.URL, "/"))
	hc := cfg.HTTPClient
	if hc == nil {
		var err error
		if hc, err = httpclient.New(HTTPClientConfig(httpclient.Config{})); err != nil {
			return nil, err
		}
	}
	dl := *hc
	dl.Timeout = 0
	c := &Client{
		base: u,
		// The enroll secret and the node key are in request bodies, which
		// a 307 or 308 would re-send: no redirect leaves Fleet's origin.
		http:       httpclient.WithSameOrigin(hc),
		download:   httpclient.WithSameOrigin(&dl),
		userAgent:  userAgent(cfg.Version),
		caps:       strings.Join(cfg.Capabilities, ","),
		timeout:    cfg.RequestTimeout,
		maxBody:    cfg.MaxBodyBytes,
		serverCaps: map[string]bool{},
	}
	if c.timeout <= 0 {
		c.timeout = DefaultRequestTimeout
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxBodyBytes
	}
	return c, nil
}

func userAgent(version string) string {
	if version == "" {
		version = "dev"
	}
	return "orbit/" + version
}

// URL returns the server's base URL.
func (c *Client) URL() string { return c.base.String() }

// SetNodeKey sets the orbit node key sent with authenticated calls.
func (c *Client) SetNodeKey(key string) {
	c.mu.Lock()
	c.nodeKey = key
	c.mu.Unlock()
}

func (c *Client) getNodeKey() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodeKey
}

// ServerCapabilities returns the capabilities from the server's last
// successful response, sorted.
func (c *Client) ServerCapabilities() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.serverCaps))
	for k := range c.serverCaps {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// HasCapability reports whether the server announced capability.
func (c *Client) HasCapability(capability string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.serverCaps[capability]
}

func (c *Client) setServerCaps(h http.Header) {
	m := map[string]bool{}
	for _, v := range strings.Split(h.Get(CapabilitiesHeader), ",") {
		if v = strings.TrimSpace(v); v != "" {
			m[v] = true
		}
	}
	c.mu.Lock()
	c.serverCaps = m
	c.mu.Unlock()
}

// HostInfo is what enroll tells Fleet about the host.
type HostInfo struct {
	HardwareUUID      string `json:"hardware_uuid"`
	HardwareSerial    string `json:"hardware_serial"`
	Hostname          string `json:"hostname"`
	ComputerName      string `json:"computer_name"`
	HardwareModel     string `json:"hardware_model"`
	Platform          string `json:"platform"`
	PlatformLike      string `json:"platform_like,omitempty"`
	OsqueryIdentifier string `json:"osquery_identifier"`
}

type enrollRequest struct {
	EnrollSecret string `json:"enroll_secret"`
	HostInfo
}

type enrollResponse struct {
	OrbitNodeKey string `json:"orbit_node_key"`
	Error        string `json:"error,omitempty"`
}

// Enroll exchanges the enroll secret for an orbit node key. A 401 unwraps to
// ErrEnrollSecretRejected. The key is returned, not stored: the caller
// persists it first, then calls SetNodeKey.
func (c *Client) Enroll(ctx context.Context, secret string, info HostInfo) (string, error) {
	var resp enrollResponse
	if err := c.do(ctx, http.MethodPost, PathEnroll, enrollRequest{EnrollSecret: secret, HostInfo: info}, &resp, true); err != nil {
		return "", err
	}
	if resp.OrbitNodeKey == "" {
		return "", fmt.Errorf("POST %s: %w: no orbit_node_key", PathEnroll, ErrBadResponse)
	}
	return resp.OrbitNodeKey, nil
}

type nodeKeyRequest struct {
	OrbitNodeKey string `json:"orbit_node_key"`
}

// GetConfig fetches the host's Orbit config.
func (c *Client) GetConfig(ctx context.Context) (*OrbitConfig, error) {
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodPost, PathConfig, nodeKeyRequest{c.getNodeKey()}, &raw, false); err != nil {
		return nil, err
	}
	cfg, err := DecodeConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w: %w", PathConfig, ErrBadResponse, err)
	}
	return cfg, nil
}

// Ping refreshes the server capabilities. A 404 (a server older than the
// ping endpoint) counts as reachable, as in Fleet's orbit.
func (c *Client) Ping(ctx context.Context) error {
	err := c.do(ctx, http.MethodHead, PathPing, nil, nil, false)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

type deviceTokenRequest struct {
	OrbitNodeKey    string `json:"orbit_node_key"`
	DeviceAuthToken string `json:"device_auth_token"`
}

// SetDeviceToken registers the device auth token the tray app uses.
func (c *Client) SetDeviceToken(ctx context.Context, token string) error {
	return c.do(ctx, http.MethodPost, PathDeviceToken, deviceTokenRequest{c.getNodeKey(), token}, nil, false)
}

type deviceMappingRequest struct {
	OrbitNodeKey string `json:"orbit_node_key"`
	Email        string `json:"email"`
}

// SetDeviceMapping tells Fleet the end user's email.
func (c *Client) SetDeviceMapping(ctx context.Context, email string) error {
	return c.do(ctx, http.MethodPut, PathDeviceMapping, deviceMappingRequest{c.getNodeKey(), email}, nil, false)
}

// Script is a script the server wants run (Fleet's HostScriptResult).
type Script struct {
	HostID         uint   `json:"host_id"`
	ExecutionID    string `json:"execution_id"`
	ScriptContents string `json:"script_contents"`
	// ExitCode is set when the server already has a result: do not run.
	ExitCode *int `json:"exit_code"`
}

type scriptRequest struct {
	OrbitNodeKey string `json:"orbit_node_key"`
	ExecutionID  string `json:"execution_id"`
}

// GetScript fetches the script of one pending execution.
func (c *Client) GetScript(ctx context.Context, executionID string) (*Script, error) {
	var s Script
	if err := c.do(ctx, http.MethodPost, PathScriptRequest, scriptRequest{c.getNodeKey(), executionID}, &s, false); err != nil {
		return nil, err
	}
	if s.ExecutionID == "" {
		s.ExecutionID = executionID
	}
	return &s, nil
}

// ScriptResult is the body of POST /api/fleet/orbit/scripts/result (Fleet's
// HostScriptResultPayload). Runtime and Timeout are in seconds.
type ScriptResult struct {
	HostID      uint   `json:"host_id"`
	ExecutionID string `json:"execution_id"`
	Output      string `json:"output"`
	Runtime     int    `json:"runtime"`
	ExitCode    int    `json:"exit_code"`
	Timeout     int    `json:"timeout"`
}

type scriptResultRequest struct {
	OrbitNodeKey string `json:"orbit_node_key"`
	ScriptResult
}

// PostScriptResult reports a script's outcome.
func (c *Client) PostScriptResult(ctx context.Context, r ScriptResult) error {
	return c.do(ctx, http.MethodPost, PathScriptResult, scriptResultRequest{c.getNodeKey(), r}, nil, false)
}

// request is one call of the Orbit or device API.
type request struct {
	method string
	path   string
	// shown replaces path in errors: device API paths carry the token.
	shown string
	query url.Values
	in    any
	// enroll maps a 401 to the enroll errors instead of ErrUnauthenticated.
	enroll bool
	// device calls answer with the device capabilities, which must not
	// replace the Orbit server's.
	device bool
}

func (r request) name() string {
	if r.shown != "" {
		return r.shown
	}
	return r.path
}

// do sends one request and decodes a 2xx JSON answer into out (nil: the body
// is discarded). Bodies are size-limited and the whole exchange is bounded
// by the request timeout.
func (c *Client) do(ctx context.Context, method, path string, in, out any, enroll bool) error {
	return c.call(ctx, request{method: method, path: path, in: in, enroll: enroll}, out)
}

func (c *Client) call(ctx context.Context, r request, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.send(ctx, c.http, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	method, path := r.method, r.name()
	data, err := httpclient.ReadBody(resp.Body, c.maxBody)
	if errors.Is(err, httpclient.ErrBodyTooLarge) {
		return fmt.Errorf("%s %s: %w (%d bytes)", method, path, ErrBodyTooLarge, c.maxBody)
	}
	if err != nil {
		return fmt.Errorf("%s %s: read response: %w", method, path, err)
	}
	if !r.device {
		c.setServerCaps(resp.Header)
	}
	if method == http.MethodHead || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	// Fleet reports some failures as {"error": "..."} in a 2xx body.
	var e struct {
		Error any `json:"error"`
	}
	if json.Unmarshal(data, &e) == nil {
		if s, ok := e.Error.(string); ok && s != "" {
			return fmt.Errorf("%s %s: %w: Fleet reported an error: %s", method, path, ErrBadResponse, shorten(s, 200))
		}
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = append((*raw)[:0], data...)
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: %w: %w", method, path, ErrBadResponse, err)
	}
	return nil
}

// send makes the exchange and turns a non-2xx answer into a *StatusError;
// on success the caller reads and closes the body.
func (c *Client) send(ctx context.Context, hc *http.Client, r request) (*http.Response, error) {
	method, path := r.method, r.name()
	var body io.Reader
	if r.in != nil {
		data, err := json.Marshal(r.in)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s request: %w", method, path, err)
		}
		body = bytes.NewReader(data)
	}
	u := *c.base
	u.Path = c.base.Path + r.path
	if r.query != nil {
		u.RawQuery = r.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("build %s %s request: %w", method, path, err)
	}
	if r.in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set(CapabilitiesHeader, c.caps)

	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w (check that Fleet is reachable from this host)", method, path, redactURLError(err))
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return resp, nil
	}
	defer resp.Body.Close()
	errBody, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	se := &StatusError{Method: method, Path: path, StatusCode: resp.StatusCode, Message: serverErrorText(errBody)}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		se.sentinel = ErrUnauthenticated
		if r.device {
			se.sentinel = ErrDeviceTokenRejected
		}
		if r.enroll {
			se.sentinel = ErrEnrollSecretRejected
			// Fleet's client looks for the code in the error text too
			// (message and errors[0].reason both carry it).
			if bytes.Contains(errBody, []byte(endUserAuthRequired)) {
				se.sentinel = ErrEndUserAuthRequired
			}
		}
	case http.StatusNotFound:
		se.sentinel = ErrNotFound
	case http.StatusPaymentRequired:
		se.sentinel = ErrMissingLicense
	}
	return nil, se
}

// redactURLError drops the URL from a *url.Error: ours carry no secrets, but
// keeping only the operation and cause keeps messages short and stable.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
