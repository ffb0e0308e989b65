package osquery

import (
	"context"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	gen "github.com/osquery/osquery-go/gen/osquery"
	"github.com/rs/zerolog"
)

// Table is one table the extension serves. osquery-go's *table.Plugin is
// one; so are the tables of this package.
type Table interface {
	Name() string
	// Routes describes the columns: {"id": "column", "name", "type", "op"}.
	Routes() gen.ExtensionPluginResponse
	// Call answers osqueryd's {"action": "generate" | "columns"} requests.
	Call(ctx context.Context, req gen.ExtensionPluginRequest) gen.ExtensionResponse
}

// serverIdleTimeout closes a connection osqueryd left idle.
const serverIdleTimeout = 5 * time.Minute

// maxRequestBytes bounds one request from osqueryd (a query context).
const maxRequestBytes = 4 << 20

// tableServer is the extension's own Thrift service on "<socket>.<uuid>":
// osqueryd pings it and calls its tables.
type tableServer struct {
	uuid   gen.ExtensionRouteUUID
	tables map[string]Table
	log    zerolog.Logger
	ln     net.Listener
	ctx    context.Context
	cancel context.CancelFunc
	// shutdown receives osqueryd's shutdown call (its manager stops).
	shutdown chan struct{}

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

var _ gen.Extension = (*tableServer)(nil)

func newTableServer(uuid gen.ExtensionRouteUUID, tables []Table, ln net.Listener, log zerolog.Logger) *tableServer {
	ctx, cancel := context.WithCancel(context.Background())
	s := &tableServer{uuid: uuid, tables: map[string]Table{}, log: log, ln: ln, ctx: ctx, cancel: cancel,
		shutdown: make(chan struct{}, 1), conns: map[net.Conn]struct{}{}}
	for _, t := range tables {
		s.tables[strings.ToLower(t.Name())] = t
	}
	s.wg.Add(1)
	go s.serve()
	return s
}

func (s *tableServer) serve() {
	defer s.wg.Done()
	proc := gen.NewExtensionProcessor(s)
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.ctx.Err() != nil {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(proc, c)
	}
}

func (s *tableServer) serveConn(proc thrift.TProcessor, c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	ic := &idleConn{limitedConn: limitedConn{Conn: c, left: maxRequestBytes}}
	prot := protocolFactory(maxRequestBytes).GetProtocol(thrift.NewStreamTransportRW(ic))
	for s.ctx.Err() == nil {
		// Each request gets the full budget; only one request is bounded.
		ic.left = maxRequestBytes
		if ok, _ := proc.Process(s.ctx, prot, prot); !ok {
			return
		}
	}
}

// close stops listening, drops every connection and waits for them.
func (s *tableServer) close() {
	s.mu.Lock()
	s.cancel()
	s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Ping answers osqueryd's watcher with our route uuid, as osquery's own
// extensions do.
func (s *tableServer) Ping(context.Context) (*gen.ExtensionStatus, error) {
	return &gen.ExtensionStatus{Code: 0, Message: "pong", UUID: s.uuid}, nil
}

// Call routes osqueryd's table calls to our tables.
func (s *tableServer) Call(ctx context.Context, registry, item string, req gen.ExtensionPluginRequest) (*gen.ExtensionResponse, error) {
	fail := func(msg string) (*gen.ExtensionResponse, error) {
		return &gen.ExtensionResponse{Status: &gen.ExtensionStatus{Code: 1, Message: msg, UUID: s.uuid}}, nil
	}
	if registry != "table" {
		return fail("Unknown registry: " + registry)
	}
	t, ok := s.tables[strings.ToLower(item)]
	if !ok {
		return fail("Unknown registry item: " + item)
	}
	resp := t.Call(ctx, req)
	if resp.Status == nil {
		return fail("table returned no status")
	}
	if resp.Status.Code != 0 {
		s.log.Warn().Str("table", item).Str("message", resp.Status.Message).Msg("osquery extension table failed")
	}
	return &resp, nil
}

// Shutdown is osqueryd's manager going away: check our registration now.
func (s *tableServer) Shutdown(context.Context) error {
	select {
	case s.shutdown <- struct{}{}:
	default:
	}
	return nil
}

// idleConn closes a connection on which no request arrives for a while.
type idleConn struct {
	limitedConn
}

func (c *idleConn) Read(p []byte) (int, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(serverIdleTimeout))
	return c.limitedConn.Read(p)
}
