package fleettest

import (
	"bytes"
	"net"
	"net/http"
	"strings"
	"time"

	"crypto/tls"
)

// SetFault installs f for requests whose path starts with pathPrefix,
// replacing any fault on the same prefix.
func (s *Server) SetFault(pathPrefix string, f Fault) {
	e := &faultEntry{f: f, remaining: f.Times}
	if f.For > 0 {
		e.expires = s.now().Add(f.For)
	}
	s.mu.Lock()
	s.faults[pathPrefix] = e
	s.mu.Unlock()
}

// NamedFault is a Fault with a name for logs and test names.
type NamedFault struct {
	Name  string
	Fault Fault
}

// EveryFault is one of each way the server can fail: an error status, a
// slow answer, an oversized one (16 MiB, beyond a client's 10 MiB limit),
// truncated JSON and a connection reset.
func EveryFault() []NamedFault {
	return []NamedFault{
		{"500", Fault{Status: 500}},
		{"slow", Fault{Delay: time.Second}},
		{"oversized", Fault{OversizeMiB: 16}},
		{"malformed", Fault{Malformed: true}},
		{"reset", Fault{Reset: true}},
	}
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	s.faults = map[string]*faultEntry{}
	s.mu.Unlock()
}

// Faults returns the active faults by path prefix.
func (s *Server) Faults() map[string]Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := map[string]Fault{}
	for p, e := range s.faults {
		if !e.expires.IsZero() && !now.Before(e.expires) {
			continue
		}
		f := e.f
		if e.remaining > 0 {
			f.Times = e.remaining
		}
		out[p] = f
	}
	return out
}

// takeFault picks the longest-prefix live fault for the request and consumes
// one use of it.
func (s *Server) takeFault(method, path string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var best string
	var be *faultEntry
	for p, e := range s.faults {
		if !e.expires.IsZero() && !now.Before(e.expires) {
			delete(s.faults, p) // healed
			continue
		}
		if !strings.HasPrefix(path, p) || (e.f.Method != "" && e.f.Method != method) {
			continue
		}
		if be == nil || len(p) > len(best) {
			best, be = p, e
		}
	}
	if be == nil {
		return Fault{}, false
	}
	if be.remaining > 0 {
		be.remaining--
		if be.remaining == 0 {
			delete(s.faults, best)
		}
	}
	return be.f, true
}

// applyFault performs f; it reports true when the response is complete.
func (s *Server) applyFault(w *recWriter, r *http.Request, f Fault, api apiKind) bool {
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return true // the client gave up; nobody reads the answer
		}
	}
	switch {
	case f.Reset:
		conn, err := w.hijack()
		if err != nil {
			s.log.Error().Err(err).Msg("fault reset: hijack failed")
			w.WriteHeader(http.StatusInternalServerError)
			return true
		}
		resetConn(conn)
		return true
	case f.Status != 0:
		writeStatusFault(w, f.Status, api)
		return true
	case f.OversizeMiB > 0:
		if api == apiOrbit {
			s.setCaps(w) // a 200 looks like success, headers included
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		if _, err := w.Write([]byte(`{"padding": "`)); err != nil {
			return true
		}
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for i := 0; i < f.OversizeMiB*16; i++ {
			if _, err := w.Write(chunk); err != nil {
				return true // client stopped reading: that is the point of the fault
			}
		}
		_, _ = w.Write([]byte("\"}\n"))
		return true
	case f.Malformed:
		if api == apiOrbit {
			s.setCaps(w)
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"orbit_node_key": "trunc`))
		return true
	}
	return false
}

// resetConn closes the TCP connection with SO_LINGER 0 so the peer gets a RST.
func resetConn(conn net.Conn) {
	raw := conn
	if tc, ok := conn.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = raw.Close()
}

// writeStatusFault answers with the body Fleet would send for that status on that API.
func writeStatusFault(w http.ResponseWriter, status int, api apiKind) {
	switch {
	case api == apiOsquery && status == http.StatusUnauthorized:
		osqueryError(w, status, "authentication error: invalid node key", true)
	case api == apiOsquery:
		osqueryError(w, status, "fleettest fault", false)
	case status == http.StatusUnauthorized:
		authRequired(w)
	case status == http.StatusNotFound:
		// What an older Fleet without the endpoint answers.
		http.Error(w, "404 page not found", http.StatusNotFound)
	case status == http.StatusPaymentRequired:
		writeFleetError(w, status, "Requires Fleet Premium license", "missing or invalid license")
	default:
		text := http.StatusText(status)
		if text == "" {
			text = "fleettest fault"
		}
		writeFleetError(w, status, text, "fleettest fault")
	}
}
