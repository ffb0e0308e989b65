package osquery

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orbitagent/orbit/internal/testdir"
)

func TestQueryThroughOsqueryd(t *testing.T) {
	t.Parallel()
	osq := startStandin(t, testdir.Short(t), nil)
	osq.waitAnswering(t)
	ctx := context.Background()
	newClient := func(cfg ClientConfig) *Client {
		cfg.Socket = osq.socket
		c, err := NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := newClient(ClientConfig{})

	rows, err := c.Query(ctx, "SELECT uuid, hostname FROM system_info")
	if err != nil || len(rows) != 1 || rows[0]["uuid"] == "" || rows[0]["hostname"] == "" {
		t.Fatalf("system_info = %v, %v", rows, err)
	}
	rows, err = c.Query(ctx, "SELECT name FROM osquery_flags WHERE name = 'no_such_flag'")
	if err != nil || rows == nil || len(rows) != 0 {
		t.Fatalf("empty result = %#v, %v; want an empty, non-nil slice", rows, err)
	}
	_, err = c.Query(ctx, "SELECT * FROM no_such_table")
	var qe *QueryError
	if !errors.As(err, &qe) || !strings.Contains(qe.Message, "no such table: no_such_table") {
		t.Fatalf("bad table: %v, want a QueryError", err)
	}

	cases := []struct {
		name string
		cfg  ClientConfig
	}{
		{"too many rows", ClientConfig{MaxRows: 10}},
		{"too many bytes", ClientConfig{MaxResultBytes: 2048}},
	}
	for _, tc := range cases {
		_, err := newClient(tc.cfg).Query(ctx, "SELECT * FROM osquery_flags")
		if !errors.Is(err, ErrResultTooLarge) {
			t.Errorf("%s: %v, want ErrResultTooLarge", tc.name, err)
		}
	}
	// The limits are per answer: the client still works afterwards.
	if err := newClient(ClientConfig{MaxResultBytes: 2048}).Ping(ctx); err != nil {
		t.Fatalf("ping after a refused answer: %v", err)
	}

	// A wedged osqueryd: the call gives up after the timeout.
	if err := os.WriteFile(filepath.Join(osq.db, standinWedgeFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = newClient(ClientConfig{Timeout: 200 * time.Millisecond}).Query(ctx, "SELECT 1")
	if err == nil || !strings.Contains(err.Error(), "did not answer") {
		t.Fatalf("wedged: %v, want a timeout", err)
	}
	// So does a cancelled context, at once.
	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	if _, err := c.Query(cctx, "SELECT 1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v, want context.Canceled", err)
	}
}

func TestQueryWithoutOsqueryd(t *testing.T) {
	t.Parallel()
	requireUnix(t)
	c := testClient(t, filepath.Join(testdir.Short(t), "absent.em"))
	if _, err := c.Query(context.Background(), "SELECT 1"); err == nil || !strings.Contains(err.Error(), "connect to osqueryd's extension socket") {
		t.Fatalf("err = %v", err)
	}
}

// A hostile or broken peer announcing a 2 GiB string is refused without
// reading (or allocating) it.
func TestQueryRefusesAHugeAnswer(t *testing.T) {
	t.Parallel()
	requireUnix(t)
	sock := filepath.Join(testdir.Short(t), "evil.em")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	hold := make(chan struct{})
	defer close(hold)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = conn.Read(make([]byte, 4096))
		var b bytes.Buffer
		w32 := func(v uint32) { _ = binary.Write(&b, binary.BigEndian, v) }
		w32(0x80010002) // strict binary, REPLY
		w32(5)
		b.WriteString("query")
		w32(1)                    // seqid
		b.Write([]byte{12, 0, 0}) // field 0 (success): struct
		b.Write([]byte{12, 0, 1}) // field 1 (status): struct
		b.Write([]byte{11, 0, 2}) // field 2 (message): string
		w32(0x7fffffff)
		_, _ = conn.Write(b.Bytes())
		<-hold // never send the string: a client reading it would time out
	}()
	c, err := NewClient(ClientConfig{Socket: sock, Timeout: 10 * time.Second, MaxResultBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Query(context.Background(), "SELECT 1")
	if !errors.Is(err, ErrResultTooLarge) {
		t.Fatalf("err = %v, want ErrResultTooLarge (not a timeout waiting for the string)", err)
	}
}

func TestClientConfigValidate(t *testing.T) {
	t.Parallel()
	if _, err := NewClient(ClientConfig{}); err == nil || !strings.Contains(err.Error(), "no extension socket") {
		t.Fatalf("no socket: %v", err)
	}
	if _, err := NewClient(ClientConfig{Socket: "/s", MaxRows: -1}); err == nil {
		t.Fatal("negative MaxRows accepted")
	}
}
