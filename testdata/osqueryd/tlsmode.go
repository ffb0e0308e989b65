package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// maxResponseBytes bounds every response read from the server.
const maxResponseBytes = 10 << 20

const nodeKeyFile = "standin_node_key"

// errNodeInvalid is the server saying our node key is not (or no longer)
// valid: HTTP 401 or {"node_invalid": true}.
var errNodeInvalid = errors.New("node key invalid")

// tlsClient speaks osquery's TLS remote API. The node key is kept in the
// database directory, so a restart reuses it instead of enrolling again, as
// osqueryd does.
type tlsClient struct {
	d    *daemon
	http *http.Client

	mu       sync.Mutex
	nodeKey  string
	enrollMu sync.Mutex
}

func newTLSClient(d *daemon) (*tlsClient, error) {
	if d.fs.String("tls_hostname") == "" {
		return nil, errNoTLSHost
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if p := d.fs.String("tls_server_certs"); p != "" {
		pem, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read --tls_server_certs %s: %w", p, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls_server_certs %s holds no PEM certificate: point it at the server's CA bundle", p)
		}
		tc.RootCAs = pool
	}
	if cert, key := d.fs.String("tls_client_cert"), d.fs.String("tls_client_key"); cert != "" && key != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("load --tls_client_cert/--tls_client_key: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	c := &tlsClient{d: d, http: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tc, Proxy: nil, MaxIdleConnsPerHost: 4},
	}}
	if !d.fs.Bool("enroll_always") {
		c.nodeKey = c.loadNodeKey()
	}
	return c, nil
}

func (c *tlsClient) keyPath() string {
	if !c.d.fs.IsSet("database_path") || c.d.fs.String("database_path") == "" {
		return ""
	}
	return filepath.Join(c.d.fs.String("database_path"), nodeKeyFile)
}

func (c *tlsClient) loadNodeKey() string {
	if p := c.keyPath(); p != "" {
		if b, err := os.ReadFile(p); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	return ""
}

func (c *tlsClient) key() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodeKey
}

// url joins tls_hostname and an endpoint flag, read at call time because
// config options may change endpoints.
func (c *tlsClient) url(endpointFlag string) string {
	return "https://" + c.d.fs.String("tls_hostname") + c.d.fs.String(endpointFlag)
}

// post sends one JSON request and decodes the answer into out.
func (c *tlsClient) post(ctx context.Context, url string, body any, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "osquery/"+version)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return err
	}
	var probe struct {
		NodeInvalid bool `json:"node_invalid"`
	}
	_ = json.Unmarshal(data, &probe)
	if resp.StatusCode == http.StatusUnauthorized || probe.NodeInvalid {
		return errNodeInvalid
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d from %s", resp.StatusCode, req.URL.Path)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("decode response from %s: %w", req.URL.Path, err)
		}
	}
	return nil
}

func (c *tlsClient) enrollSecret() (string, error) {
	if name := c.d.fs.String("enroll_secret_env"); name != "" {
		if v := os.Getenv(name); v != "" {
			return v, nil
		}
	}
	if p := c.d.fs.String("enroll_secret_path"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("read --enroll_secret_path: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return "", errors.New("enrollment secret is empty: set --enroll_secret_env or --enroll_secret_path")
}

func (c *tlsClient) hostDetails() map[string]map[string]string {
	details := map[string]map[string]string{}
	for _, t := range []string{"os_version", "osquery_info", "system_info", "platform_info"} {
		if _, ok := tables[t]; !ok {
			continue
		}
		if res, err := runQuery(c.d.env, "select * from "+t); err == nil && len(res.rows) > 0 {
			details[t] = res.rows[0]
		}
	}
	return details
}

func platformMask() string {
	switch runtime.GOOS {
	case "windows":
		return "2"
	case "darwin":
		return "21"
	case "linux":
		return "9"
	}
	return "1"
}

// enroll obtains a node key, retrying with growing pauses up to
// tls_enroll_max_attempts. stale is the key the caller saw rejected: if
// another goroutine already replaced it, no new enrollment is needed.
func (c *tlsClient) enroll(ctx context.Context, stale string) error {
	c.enrollMu.Lock()
	defer c.enrollMu.Unlock()
	if k := c.key(); k != "" && k != stale {
		return nil
	}
	secret, err := c.enrollSecret()
	if err != nil {
		return err
	}
	attempts := max(c.d.fs.Int("tls_enroll_max_attempts"), 1)
	maxWait := c.d.fs.Int("tls_enroll_max_interval")
	var last error
	for i := int64(0); i < attempts; i++ {
		if i > 0 {
			wait := min((i)*(i), max(maxWait, 1))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(c.d.scaled(wait)):
			}
		}
		var resp struct {
			NodeKey     string `json:"node_key"`
			NodeInvalid bool   `json:"node_invalid"`
		}
		body := map[string]any{
			"enroll_secret":   secret,
			"host_identifier": c.d.hostIdentifier,
			"platform_type":   platformMask(),
			"host_details":    c.hostDetails(),
		}
		last = c.post(ctx, c.url("enroll_tls_endpoint"), body, &resp)
		if last == nil && resp.NodeKey == "" {
			last = errors.New("enroll response has no node_key")
		}
		if last == nil {
			// Persist before use: once a request carries the new key,
			// a restart finds it too.
			if p := c.keyPath(); p != "" {
				_ = os.WriteFile(p, []byte(resp.NodeKey), 0o600)
			}
			c.mu.Lock()
			c.nodeKey = resp.NodeKey
			c.mu.Unlock()
			c.d.log.Info("enrolled with the TLS server", "attempt", i+1)
			return nil
		}
		if errors.Is(last, errNodeInvalid) {
			last = errors.New("enroll secret rejected")
		}
		c.d.log.Warn("failed enrollment request", "attempt", i+1, "err", last)
	}
	return fmt.Errorf("failed enrollment after %d attempts: %w", attempts, last)
}

// call posts body plus node_key to an endpoint, enrolling first if needed,
// re-enrolling once when the key is rejected and retrying other failures up
// to maxAttempts.
func (c *tlsClient) call(ctx context.Context, endpointFlag string, body map[string]any, out any, maxAttempts int64) error {
	maxAttempts = max(maxAttempts, 1)
	reenrolled := false
	var last error
	for i := int64(0); i < maxAttempts; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(c.d.scaled(1)):
			}
		}
		key := c.key()
		if key == "" {
			if err := c.enroll(ctx, ""); err != nil {
				return err
			}
			key = c.key()
		}
		body["node_key"] = key
		last = c.post(ctx, c.url(endpointFlag), body, out)
		if last == nil {
			return nil
		}
		if errors.Is(last, errNodeInvalid) {
			if c.d.fs.Bool("disable_reenrollment") || reenrolled {
				return last
			}
			c.d.log.Warn("node key rejected: re-enrolling", "endpoint", c.d.fs.String(endpointFlag))
			reenrolled = true
			if err := c.enroll(ctx, key); err != nil {
				return err
			}
			i-- // the re-enrollment does not use up an attempt
			continue
		}
	}
	return last
}

// startTLS starts the TLS plugins that are configured: config (enrolls
// first; failing that, osqueryd exits with 78), distributed and logger.
func (d *daemon) startTLS(ctx context.Context, wg *sync.WaitGroup, sched *scheduler, tl *tlsLogger) error {
	c, err := newTLSClient(d)
	if err != nil {
		return err
	}
	if tl != nil {
		tl.client = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			tl.run(ctx)
		}()
	}
	if d.fs.String("config_plugin") == "tls" {
		if err := c.enroll(ctx, ""); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			d.log.Error("cannot activate tls config plugin", "err", err)
			d.fatal(exitCatastrophic)
			return nil
		}
		d.fetchConfig(ctx, c, sched)
		d.refreshConfig(ctx, wg, sched, func() { d.fetchConfig(ctx, c, sched) })
	}
	if !d.fs.Bool("disable_distributed") && d.fs.String("distributed_plugin") == "tls" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.distributedLoop(ctx, c)
		}()
	}
	return nil
}

func (d *daemon) fetchConfig(ctx context.Context, c *tlsClient, sched *scheduler) {
	var raw json.RawMessage
	if err := c.call(ctx, "config_tls_endpoint", map[string]any{}, &raw, d.fs.Int("config_tls_max_attempts")); err != nil {
		if ctx.Err() == nil {
			d.log.Error("error fetching config from the TLS server", "err", err)
		}
		return
	}
	sched.apply(ctx, raw)
}

type distributedRead struct {
	Queries    map[string]string `json:"queries"`
	Discovery  map[string]string `json:"discovery"`
	Accelerate json.RawMessage   `json:"accelerate"`
}

// distributedLoop reads queries at once and then every distributed_interval
// seconds (every 5 s while the server asks to accelerate), and writes their
// results.
func (d *daemon) distributedLoop(ctx context.Context, c *tlsClient) {
	var accelerateUntil time.Time
	for first := true; ; first = false {
		if !first {
			wait := d.scaled(d.fs.Int("distributed_interval"))
			if time.Now().Before(accelerateUntil) {
				wait = min(wait, d.scaled(5))
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		var rd distributedRead
		if err := c.call(ctx, "distributed_tls_read_endpoint", map[string]any{}, &rd, d.fs.Int("distributed_tls_max_attempts")); err != nil {
			if ctx.Err() == nil {
				d.log.Warn("distributed read failed", "err", err)
			}
			continue
		}
		if secs, err := flexInt(rd.Accelerate); err == nil && secs > 0 {
			accelerateUntil = time.Now().Add(d.scaled(secs))
		}
		if len(rd.Queries) == 0 {
			continue
		}
		queries := map[string]any{}
		statuses := map[string]int{}
		messages := map[string]string{}
		stats := map[string]any{}
		for name, sql := range rd.Queries {
			if dq, ok := rd.Discovery[name]; ok && dq != "" {
				if res, err := runQuery(d.env, dq); err != nil || len(res.rows) == 0 {
					continue
				}
			}
			start := time.Now()
			res, err := runQuery(d.env, sql)
			rows := []map[string]string{}
			if err != nil {
				statuses[name] = 1
				messages[name] = err.Error()
			} else {
				statuses[name] = 0
				messages[name] = ""
				rows = res.rows
			}
			queries[name] = rows
			stats[name] = map[string]int64{
				"wall_time": 0, "wall_time_ms": time.Since(start).Milliseconds(),
				"user_time": 0, "system_time": 0, "memory": 0,
			}
		}
		body := map[string]any{"queries": queries, "statuses": statuses, "messages": messages, "stats": stats}
		if err := c.call(ctx, "distributed_tls_write_endpoint", body, nil, d.fs.Int("distributed_tls_max_attempts")); err != nil && ctx.Err() == nil {
			d.log.Warn("distributed write failed", "err", err)
		}
	}
}

// tlsLogger buffers result and status lines and sends them every
// logger_tls_period seconds, at most logger_tls_max_lines per request.
type tlsLogger struct {
	d      *daemon
	client *tlsClient

	mu  sync.Mutex
	buf map[string][]json.RawMessage
	// dropped counts lines trimmed from the front of each buffer, so a
	// flush removes only what it sent even if add trimmed meanwhile.
	dropped map[string]int
}

// maxBufferedLines bounds memory while the server is unreachable.
const maxBufferedLines = 100000

func newTLSLogger(d *daemon) *tlsLogger {
	return &tlsLogger{d: d, buf: map[string][]json.RawMessage{}, dropped: map[string]int{}}
}

func (l *tlsLogger) add(logType string, line []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := append(l.buf[logType], json.RawMessage(append([]byte(nil), line...)))
	if len(b) > maxBufferedLines {
		l.dropped[logType] += len(b) - maxBufferedLines
		b = b[len(b)-maxBufferedLines:]
	}
	l.buf[logType] = b
}

func (l *tlsLogger) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(l.d.scaled(max(l.d.fs.Int("logger_tls_period"), 1))):
		}
		for _, lt := range []string{"result", "status"} {
			l.flush(ctx, lt)
		}
	}
}

func (l *tlsLogger) flush(ctx context.Context, logType string) {
	for {
		maxLines := int(max(l.d.fs.Int("logger_tls_max_lines"), 1))
		l.mu.Lock()
		batch := l.buf[logType]
		if len(batch) > maxLines {
			batch = batch[:maxLines]
		}
		batch = append([]json.RawMessage(nil), batch...)
		droppedBefore := l.dropped[logType]
		l.mu.Unlock()
		if len(batch) == 0 {
			return
		}
		body := map[string]any{"log_type": logType, "data": batch}
		if err := l.client.call(ctx, "logger_tls_endpoint", body, nil, 1); err != nil {
			// Keep the lines for the next period. Logging this failure
			// as a status line would grow the buffer, so stderr only.
			if ctx.Err() == nil {
				fmt.Fprintf(l.d.stderr, "W osqueryd stand-in: TLS logger send failed: %v\n", err)
			}
			return
		}
		l.mu.Lock()
		sent := max(len(batch)-(l.dropped[logType]-droppedBefore), 0)
		l.buf[logType] = l.buf[logType][min(sent, len(l.buf[logType])):]
		l.mu.Unlock()
	}
}
