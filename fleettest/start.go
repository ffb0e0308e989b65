package fleettest

import "testing"

// Start is New and Server.Start for a test: the test fails if the server
// cannot listen, and the server is closed when the test ends.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	s := New(cfg)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}
