// Package httpclienttest helps test orbit's redirect policy: a Trap is a
// second real listener that records every byte that reaches it, and
// Redirect sends every request there.
package httpclienttest

import (
	"bytes"
	"net"
	"net/http"
	"sync"
	"testing"
)

// Trap is an HTTP server on 127.0.0.1 that answers 200 "{}" to anything
// and records the connections and raw bytes it receives, TLS handshakes
// and request bodies included.
type Trap struct {
	// URL is the trap's address, http://127.0.0.1:port.
	URL string

	mu    sync.Mutex
	conns int
	data  bytes.Buffer
}

// NewTrap starts a trap, closed with the test.
func NewTrap(t testing.TB) *Trap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &Trap{URL: "http://" + ln.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("{}"))
	})}
	go func() { _ = srv.Serve(recordingListener{ln, tr}) }()
	t.Cleanup(func() { _ = srv.Close() })
	return tr
}

// Received returns how many connections reached the trap and every byte
// read from them.
func (tr *Trap) Received() (conns int, data []byte) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.conns, bytes.Clone(tr.data.Bytes())
}

// Redirect answers every request with code and a Location on target with
// the request's path and query: a server that sends its clients elsewhere.
func Redirect(target string, code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target+r.URL.RequestURI(), code)
	}
}

type recordingListener struct {
	net.Listener
	tr *Trap
}

func (l recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.tr.mu.Lock()
	l.tr.conns++
	l.tr.mu.Unlock()
	return recordingConn{c, l.tr}, nil
}

type recordingConn struct {
	net.Conn
	tr *Trap
}

func (c recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.tr.mu.Lock()
	c.tr.data.Write(p[:n])
	c.tr.mu.Unlock()
	return n, err
}
