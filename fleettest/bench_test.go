package fleettest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// BenchmarkOrbitConfig measures one authenticated config round trip over
// TLS with a kept-alive connection (the agent polls this every 30 s per host).
func BenchmarkOrbitConfig(b *testing.B) {
	s := New(Config{EnrollSecrets: []string{testSecret}, TLS: true})
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	client := s.Client()
	post := func(path string, body any) []byte {
		buf, _ := json.Marshal(body)
		res, err := client.Post(s.URL()+path, "application/json", bytes.NewReader(buf))
		if err != nil {
			b.Fatal(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			b.Fatalf("%s: %d %s", path, res.StatusCode, out)
		}
		return out
	}
	var enroll struct {
		Key string `json:"orbit_node_key"`
	}
	_ = json.Unmarshal(post("/api/fleet/orbit/enroll", map[string]string{"enroll_secret": testSecret, "hardware_uuid": "b"}), &enroll)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		post("/api/fleet/orbit/config", map[string]string{"orbit_node_key": enroll.Key})
	}
}
