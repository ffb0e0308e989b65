package osquery

import (
	"context"
	"testing"

	gen "github.com/osquery/osquery-go/gen/osquery"
	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/internal/testdir"
	"github.com/orbitagent/orbit/internal/testwait"
)

// BenchmarkPing is one health-check ping to the stand-in osqueryd: a new
// connection, the Thrift call, the close.
func BenchmarkPing(b *testing.B) {
	osq := startStandin(b, testdir.Short(b), nil)
	osq.waitAnswering(b)
	c, err := NewClient(ClientConfig{Socket: osq.socket})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Ping(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOrbitInfoGenerate is the extension's work for one generate
// call of orbit_info, as osqueryd makes it (without the socket).
func BenchmarkOrbitInfoGenerate(b *testing.B) {
	tbl := OrbitInfoTable(&fakeInfo{info: OrbitInfo{Version: "1.2.3", DeviceAuthToken: "t"}}, nil)
	srv := &tableServer{uuid: 1, tables: map[string]Table{"orbit_info": tbl}, log: zerolog.Nop()}
	req := gen.ExtensionPluginRequest{"action": "generate", "context": `{"constraints":[]}`}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := srv.Call(ctx, "table", "orbit_info", req)
		if err != nil || resp.Status.Code != 0 || len(resp.Response) != 1 {
			b.Fatal(resp, err)
		}
	}
}

// BenchmarkQueryOrbitInfo is SELECT * FROM orbit_info through the stand-in
// osqueryd, which calls the extension over its socket: what a Fleet
// distributed query costs orbit and osqueryd together.
func BenchmarkQueryOrbitInfo(b *testing.B) {
	osq := startStandin(b, testdir.Short(b), nil)
	osq.waitAnswering(b)
	ext, err := NewExtension(ExtensionConfig{Socket: osq.socket,
		Tables: []Table{OrbitInfoTable(&fakeInfo{info: OrbitInfo{Version: "1.2.3"}}, nil)}, Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = ext.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	c, err := NewClient(ClientConfig{Socket: osq.socket})
	if err != nil {
		b.Fatal(err)
	}
	testwait.For(b, "orbit_info registered", func() bool {
		rows, err := c.Query(ctx, "SELECT version FROM orbit_info")
		return err == nil && len(rows) == 1
	})
	b.ReportAllocs()
	for b.Loop() {
		rows, err := c.Query(ctx, "SELECT * FROM orbit_info")
		if err != nil || len(rows) != 1 {
			b.Fatal(rows, err)
		}
	}
}
