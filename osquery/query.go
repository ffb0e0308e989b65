package osquery

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	gen "github.com/osquery/osquery-go/gen/osquery"
)

// Defaults of ClientConfig.
const (
	DefaultTimeout        = 30 * time.Second
	DefaultMaxResultBytes = 32 << 20
	DefaultMaxRows        = 100_000
)

// ErrResultTooLarge is returned when osqueryd's answer exceeds the
// client's MaxResultBytes or MaxRows.
var ErrResultTooLarge = errors.New("osquery result too large")

// QueryError is osqueryd refusing a query (bad SQL, unknown table); the
// message is osquery's (SQLite's) own.
type QueryError struct{ Message string }

func (e *QueryError) Error() string { return "osquery: " + e.Message }

// ClientConfig configures a Client. Socket is required.
type ClientConfig struct {
	// Socket is osqueryd's --extensions_socket (a named pipe on Windows).
	Socket string
	// Timeout bounds each call, connection included (default 30 s).
	Timeout time.Duration
	// MaxResultBytes bounds what is read of one answer (default 32 MiB).
	MaxResultBytes int64
	// MaxRows bounds the rows of one query result (default 100000).
	MaxRows int
}

// Validate reports a missing socket or a negative bound.
func (c ClientConfig) Validate() error {
	if c.Socket == "" {
		return errors.New("osquery client: no extension socket: set it to osqueryd's --extensions_socket")
	}
	if err := checkSocketPath(c.Socket, 0); err != nil {
		return fmt.Errorf("osquery client: %w", err)
	}
	if c.Timeout < 0 || c.MaxResultBytes < 0 || c.MaxRows < 0 {
		return errors.New("osquery client: negative timeout or limit: use 0 for the default")
	}
	return nil
}

func (c ClientConfig) withDefaults() ClientConfig {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxResultBytes == 0 {
		c.MaxResultBytes = DefaultMaxResultBytes
	}
	if c.MaxRows == 0 {
		c.MaxRows = DefaultMaxRows
	}
	return c
}

// Client talks to osqueryd's extension manager: queries for pre-install
// checks and `orbit status --query`, pings for the health check, and the
// extension's registration. It holds no connection; it is safe for
// concurrent use.
type Client struct {
	cfg ClientConfig
}

// NewClient checks cfg and returns a client.
func NewClient(cfg ClientConfig) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Client{cfg: cfg.withDefaults()}, nil
}

// Query runs sql in osqueryd and returns its rows (every value a string,
// as osquery returns them).
func (c *Client) Query(ctx context.Context, sql string) ([]map[string]string, error) {
	var resp *gen.ExtensionResponse
	err := c.call(ctx, func(ctx context.Context, m *gen.ExtensionManagerClient) (err error) {
		resp, err = m.Query(ctx, sql)
		return err
	})
	if err != nil {
		return nil, err
	}
	if resp.Status == nil {
		return nil, errors.New("osquery: query answer has no status")
	}
	if resp.Status.Code != 0 {
		return nil, &QueryError{Message: resp.Status.Message}
	}
	if len(resp.Response) > c.cfg.MaxRows {
		return nil, fmt.Errorf("%w: %d rows, more than %d: narrow the query (WHERE, LIMIT)", ErrResultTooLarge, len(resp.Response), c.cfg.MaxRows)
	}
	rows := resp.Response
	if rows == nil {
		rows = []map[string]string{}
	}
	return rows, nil
}

// Ping asks osqueryd's extension manager whether it is alive.
func (c *Client) Ping(ctx context.Context) error {
	return c.call(ctx, func(ctx context.Context, m *gen.ExtensionManagerClient) error {
		st, err := m.Ping(ctx)
		if err != nil {
			return err
		}
		return statusErr("ping", st)
	})
}

// extensions lists the registered extensions by route uuid.
func (c *Client) extensions(ctx context.Context) (gen.InternalExtensionList, error) {
	var list gen.InternalExtensionList
	err := c.call(ctx, func(ctx context.Context, m *gen.ExtensionManagerClient) (err error) {
		list, err = m.Extensions(ctx)
		return err
	})
	return list, err
}

// errRefused is osqueryd answering a call with a failure status.
type errRefused struct {
	op, msg string
}

func (e *errRefused) Error() string { return fmt.Sprintf("osqueryd refused %s: %s", e.op, e.msg) }

func statusErr(op string, st *gen.ExtensionStatus) error {
	if st == nil {
		return fmt.Errorf("osqueryd answered %s without a status", op)
	}
	if st.Code != 0 {
		return &errRefused{op: op, msg: st.Message}
	}
	return nil
}

func (c *Client) register(ctx context.Context, info *gen.InternalExtensionInfo, reg gen.ExtensionRegistry) (gen.ExtensionRouteUUID, error) {
	var st *gen.ExtensionStatus
	err := c.call(ctx, func(ctx context.Context, m *gen.ExtensionManagerClient) (err error) {
		st, err = m.RegisterExtension(ctx, info, reg)
		return err
	})
	if err != nil {
		return 0, err
	}
	if err := statusErr("the extension's registration", st); err != nil {
		return 0, err
	}
	return st.UUID, nil
}

func (c *Client) deregister(ctx context.Context, id gen.ExtensionRouteUUID) error {
	return c.call(ctx, func(ctx context.Context, m *gen.ExtensionManagerClient) error {
		st, err := m.DeregisterExtension(ctx, id)
		if err != nil {
			return err
		}
		return statusErr("the extension's deregistration", st)
	})
}

// call makes one call on its own connection, bounded by the timeout, the
// context (cancelling closes the connection) and MaxResultBytes.
func (c *Client) call(ctx context.Context, f func(context.Context, *gen.ExtensionManagerClient) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	conn, err := dialSocket(ctx, c.cfg.Socket)
	if err != nil {
		return fmt.Errorf("connect to osqueryd's extension socket %s: %w", c.cfg.Socket, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	lim := &limitedConn{Conn: conn, left: c.cfg.MaxResultBytes}
	m := gen.NewExtensionManagerClientFactory(thrift.NewStreamTransportRW(lim), protocolFactory(c.cfg.MaxResultBytes))
	err = f(ctx, m)
	switch {
	case err == nil:
		return nil
	case lim.exceeded || isSizeLimit(err):
		return fmt.Errorf("%w: osqueryd's answer is over %d bytes: narrow the query", ErrResultTooLarge, c.cfg.MaxResultBytes)
	case ctx.Err() != nil:
		return fmt.Errorf("osqueryd did not answer on %s within %s: %w", c.cfg.Socket, c.cfg.Timeout, ctx.Err())
	}
	var refused *errRefused
	if errors.As(err, &refused) {
		return err
	}
	return fmt.Errorf("call osqueryd on %s: %w", c.cfg.Socket, err)
}

// isSizeLimit is the decoder refusing a string, list or map announced
// longer than the limit, before reading it.
func isSizeLimit(err error) bool {
	// A transport exception has a TypeId too (TIMED_OUT is also 3).
	var pe thrift.TProtocolException
	return errors.As(err, &pe) && pe.TExceptionType() == thrift.TExceptionTypeProtocol && pe.TypeId() == thrift.SIZE_LIMIT
}

// protocolFactory is osquery's wire format (Thrift binary, unframed), with
// no string, list or map longer than maxBytes.
func protocolFactory(maxBytes int64) thrift.TProtocolFactory {
	return thrift.NewTBinaryProtocolFactoryConf(&thrift.TConfiguration{
		MaxMessageSize: int32(min(maxBytes, math.MaxInt32)),
	})
}

// limitedConn fails reads once more than left bytes came in, so a hostile
// or runaway answer cannot grow orbit's memory.
type limitedConn struct {
	net.Conn
	left     int64
	exceeded bool
}

var errTooManyBytes = errors.New("answer too large")

func (l *limitedConn) Read(p []byte) (int, error) {
	if l.left <= 0 {
		l.exceeded = true
		return 0, errTooManyBytes
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.Conn.Read(p)
	l.left -= int64(n)
	return n, err
}
