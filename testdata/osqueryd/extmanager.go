package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/osquery/osquery-go/gen/osquery"
)

// Status codes of osquery's extension API (ExtensionCode in osquery.thrift).
const (
	extSuccess = 0
	extFailed  = 1
)

// minSDKVersion is the oldest extension SDK osquery accepts
// (kSDKVersionChanges in osquery/extensions/interface.cpp).
const minSDKVersion = "1.7.7"

// wedgeFile, under the database directory, wedges the extension manager
// while it exists (see extManager.stall).
const wedgeFile = "standin_wedge"

// extManager is osqueryd's extension manager: a Thrift ExtensionManager
// service on --extensions_socket that extensions register with, that
// answers pings and queries, routes queries to extension tables, and
// drops extensions that stop answering (osquery's ExtensionManagerWatcher).
type extManager struct {
	d    *daemon
	path string
	ln   net.Listener
	// ctx ends with the daemon; it also releases wedged calls.
	ctx context.Context

	wedged atomic.Bool
	up     atomic.Bool

	mu    sync.Mutex
	exts  map[osquery.ExtensionRouteUUID]*extension
	conns map[net.Conn]struct{}
}

// extension is one registered extension and the tables it brought.
type extension struct {
	uuid   osquery.ExtensionRouteUUID
	info   osquery.InternalExtensionInfo
	tables map[string]*table
}

var _ osquery.ExtensionManager = (*extManager)(nil)

func newExtManager(d *daemon, path string) *extManager {
	m := &extManager{d: d, path: path, ctx: context.Background(),
		exts: map[osquery.ExtensionRouteUUID]*extension{}, conns: map[net.Conn]struct{}{}}
	m.wedged.Store(d.sw.wedged)
	return m
}

// start listens after the optional start delay, then serves, watches the
// registered extensions and autoloads the configured ones. A socket that
// cannot be created leaves osqueryd running without extensions, as in
// osquery.
func (m *extManager) start(ctx context.Context, wg *sync.WaitGroup) {
	m.ctx = ctx
	wg.Add(1)
	go func() {
		defer wg.Done()
		if delay := m.d.sw.socketDelay; delay > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
		}
		removeStaleSockets(m.path)
		ln, err := listenSocket(m.path)
		if err != nil {
			m.d.log.Warn("Extensions disabled: cannot start extension manager", "path", m.path, "err", err)
			return
		}
		m.mu.Lock()
		m.ln = ln
		m.mu.Unlock()
		m.up.Store(true)
		m.d.log.Info("Extension manager service starting", "path", m.path)
		wg.Add(2)
		go func() {
			defer wg.Done()
			m.serve(ln)
		}()
		go func() {
			defer wg.Done()
			m.watch(ctx)
		}()
		m.d.autoloadExtensions(ctx, wg, m.path)
		<-ctx.Done()
		m.stop()
	}()
}

// stop closes the listener and every connection; wedged calls return.
func (m *extManager) stop() {
	m.up.Store(false)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ln != nil {
		m.ln.Close()
		m.ln = nil
	}
	for c := range m.conns {
		c.Close()
	}
}

// removeFiles removes the manager socket and the extensions' sockets, as
// osquery does on a clean exit.
func (m *extManager) removeFiles() {
	m.stop()
	_ = os.Remove(m.path)
	removeStaleSockets(m.path)
}

func (m *extManager) active() bool { return m != nil && m.up.Load() }

func (m *extManager) wedge() {
	if !m.wedged.Swap(true) {
		m.d.log.Warn("extension manager wedged: pings and queries will not be answered")
	}
}

// stall blocks a call while the manager is wedged: osqueryd is alive and
// accepts connections but never answers, until it stops.
func (m *extManager) stall(ctx context.Context) error {
	if !m.isWedged() {
		return nil
	}
	select {
	case <-ctx.Done():
	case <-m.ctx.Done():
	}
	return thrift.ErrAbandonRequest
}

func (m *extManager) isWedged() bool {
	if m.wedged.Load() {
		return true
	}
	if db := databaseDir(m.d.fs); db != "" {
		if _, err := os.Stat(filepath.Join(db, wedgeFile)); err == nil {
			return true
		}
	}
	return false
}

func (m *extManager) serve(ln net.Listener) {
	proc := osquery.NewExtensionManagerProcessor(m)
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		m.mu.Lock()
		m.conns[c] = struct{}{}
		m.mu.Unlock()
		go m.serveConn(proc, c)
	}
}

// serveConn answers calls on one connection until the client closes it.
// osquery's clients open one connection per call; orbit may keep one.
func (m *extManager) serveConn(proc thrift.TProcessor, c net.Conn) {
	defer func() {
		m.mu.Lock()
		delete(m.conns, c)
		m.mu.Unlock()
		c.Close()
	}()
	prot := thrift.NewTBinaryProtocolConf(thrift.NewStreamTransportRW(c), &thrift.TConfiguration{})
	for {
		if ok, _ := proc.Process(m.ctx, prot, prot); !ok {
			return
		}
	}
}

// ---- the ExtensionManager service ----

func status(code int32, msg string) *osquery.ExtensionStatus {
	return &osquery.ExtensionStatus{Code: code, Message: msg}
}

// Ping answers as osquery's manager does: success, "pong", uuid 0.
func (m *extManager) Ping(ctx context.Context) (*osquery.ExtensionStatus, error) {
	if err := m.stall(ctx); err != nil {
		return nil, err
	}
	return status(extSuccess, "pong"), nil
}

// Call reaches the core registry; the stand-in has tables only.
func (m *extManager) Call(ctx context.Context, registry, item string, req osquery.ExtensionPluginRequest) (*osquery.ExtensionResponse, error) {
	if err := m.stall(ctx); err != nil {
		return nil, err
	}
	if registry != "table" {
		return &osquery.ExtensionResponse{Status: status(extFailed, "Unknown registry: "+registry)}, nil
	}
	t, ok := m.d.env.lookupTable(item)
	if !ok {
		return &osquery.ExtensionResponse{Status: status(extFailed, "Unknown registry item: "+item)}, nil
	}
	switch req["action"] {
	case "generate":
		rows, err := t.produce(m.d.env)
		if err != nil {
			return &osquery.ExtensionResponse{Status: status(extFailed, err.Error())}, nil
		}
		return &osquery.ExtensionResponse{Status: status(extSuccess, "OK"), Response: rows}, nil
	case "columns":
		return &osquery.ExtensionResponse{Status: status(extSuccess, "OK"), Response: columnRoutes(t)}, nil
	}
	return &osquery.ExtensionResponse{Status: status(extFailed, "Unknown action: "+req["action"])}, nil
}

// Shutdown is a no-op in osquery's Thrift handler too.
func (m *extManager) Shutdown(ctx context.Context) error { return nil }

// Extensions lists the registered extensions (the core is not listed).
func (m *extManager) Extensions(ctx context.Context) (osquery.InternalExtensionList, error) {
	if err := m.stall(ctx); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := osquery.InternalExtensionList{}
	for id, e := range m.exts {
		info := e.info
		out[id] = &info
	}
	return out, nil
}

// Options reports every flag with its value, default and type.
func (m *extManager) Options(ctx context.Context) (osquery.InternalOptionList, error) {
	if err := m.stall(ctx); err != nil {
		return nil, err
	}
	out := osquery.InternalOptionList{}
	for _, n := range sortedNames() {
		d := knownFlags[n]
		out[n] = &osquery.InternalOptionInfo{Value: m.d.fs.String(n), DefaultValue: d.def, Type: d.kind.String()}
	}
	return out, nil
}

// RegisterExtension follows osquery's ExtensionManagerInterface: refuse a
// duplicate name, an SDK older than 1.7.7 or a table name already taken;
// otherwise assign a fresh route uuid (1..65536). The extension then serves
// on "<socket>.<uuid>".
func (m *extManager) RegisterExtension(ctx context.Context, info *osquery.InternalExtensionInfo, registry osquery.ExtensionRegistry) (*osquery.ExtensionStatus, error) {
	if err := m.stall(ctx); err != nil {
		return nil, err
	}
	if info == nil {
		return status(extFailed, "Missing extension info"), nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.exts {
		if e.info.Name == info.Name {
			m.d.log.Warn("Refusing to register duplicate extension", "name", info.Name)
			return status(extFailed, "Duplicate extension registered"), nil
		}
	}
	if !versionAtLeast(minSDKVersion, info.SdkVersion) {
		m.d.log.Warn("Could not add extension: incompatible extension SDK", "name", info.Name, "sdk", info.SdkVersion)
		return status(extFailed, "Incompatible extension SDK version"), nil
	}
	ext := &extension{info: *info, tables: map[string]*table{}}
	for name, routes := range registry["table"] {
		lname := strings.ToLower(name)
		if _, core := tables[lname]; core || m.tableLocked(lname) != nil || ext.tables[lname] != nil {
			return status(extFailed, "Failed adding registry: Duplicate registry item: "+name), nil
		}
		t, err := m.extTable(ext, name, routes)
		if err != nil {
			return status(extFailed, "Failed adding registry: "+err.Error()), nil
		}
		ext.tables[lname] = t
	}
	for {
		ext.uuid = osquery.ExtensionRouteUUID(rand.IntN(1<<16) + 1)
		if m.exts[ext.uuid] == nil {
			break
		}
	}
	m.exts[ext.uuid] = ext
	m.d.log.Info("Registering extension", "name", info.Name, "uuid", ext.uuid, "version", info.Version, "sdk", info.SdkVersion)
	return &osquery.ExtensionStatus{Code: extSuccess, Message: "OK", UUID: ext.uuid}, nil
}

func (m *extManager) DeregisterExtension(ctx context.Context, id osquery.ExtensionRouteUUID) (*osquery.ExtensionStatus, error) {
	if err := m.stall(ctx); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.exts[id] == nil {
		return status(extFailed, "No extension UUID found"), nil
	}
	delete(m.exts, id)
	return status(extSuccess, "OK"), nil
}

// Query runs SQL through the same engine as scheduled and distributed
// queries, extension tables included.
func (m *extManager) Query(ctx context.Context, sql string) (*osquery.ExtensionResponse, error) {
	return m.runSQL(ctx, sql, func(res *queryResult) []map[string]string { return res.rows })
}

// GetQueryColumns returns one {name: type} row per result column.
func (m *extManager) GetQueryColumns(ctx context.Context, sql string) (*osquery.ExtensionResponse, error) {
	return m.runSQL(ctx, sql, func(res *queryResult) []map[string]string {
		rows := make([]map[string]string, len(res.columns))
		for i, c := range res.columns {
			rows[i] = map[string]string{c: res.types[i]}
		}
		return rows
	})
}

func (m *extManager) runSQL(ctx context.Context, sql string, answer func(*queryResult) []map[string]string) (*osquery.ExtensionResponse, error) {
	if err := m.stall(ctx); err != nil {
		return nil, err
	}
	res, err := runQuery(m.d.env, sql)
	if err != nil {
		return &osquery.ExtensionResponse{Status: status(extFailed, err.Error())}, nil
	}
	return &osquery.ExtensionResponse{Status: status(extSuccess, "OK"), Response: answer(res)}, nil
}

// ---- extension tables ----

// table returns a table some extension registered.
func (m *extManager) table(name string) (*table, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tableLocked(strings.ToLower(name))
	return t, t != nil
}

func (m *extManager) tableLocked(lname string) *table {
	for _, e := range m.exts {
		if t := e.tables[lname]; t != nil {
			return t
		}
	}
	return nil
}

// extTable turns a table's routes (one {"id": "column", "name", "type"}
// per column, in order) into a table whose rows come from the extension.
func (m *extManager) extTable(ext *extension, name string, routes osquery.ExtensionPluginResponse) (*table, error) {
	t := &table{}
	for _, r := range routes {
		if id := r["id"]; id != "" && id != "column" {
			continue
		}
		if r["name"] == "" {
			return nil, fmt.Errorf("table %s: column without a name", name)
		}
		t.columns = append(t.columns, r["name"])
		t.types = append(t.types, r["type"])
	}
	if len(t.columns) == 0 {
		return nil, fmt.Errorf("table %s has no columns", name)
	}
	t.generate = func(*queryEnv) ([]map[string]string, error) { return m.generate(ext, name, t) }
	return t, nil
}

// generate asks the extension for a table's rows over its own socket, one
// connection per call as osquery does.
func (m *extManager) generate(ext *extension, name string, t *table) ([]map[string]string, error) {
	constraints := make([]map[string]string, len(t.columns))
	for i, c := range t.columns {
		constraints[i] = map[string]string{"name": c, "list": "", "affinity": t.columnType(i)}
	}
	qc, _ := json.Marshal(map[string]any{"constraints": constraints})
	var resp *osquery.ExtensionResponse
	err := m.callExtension(ext.uuid, func(ctx context.Context, c *osquery.ExtensionClient) (err error) {
		resp, err = c.Call(ctx, "table", name, osquery.ExtensionPluginRequest{"action": "generate", "context": string(qc)})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("Extension call failed: %v", err)
	}
	if resp.Status == nil || resp.Status.Code != extSuccess {
		msg := "no status"
		if resp.Status != nil {
			msg = resp.Status.Message
		}
		return nil, fmt.Errorf("Error generating table %s: %s", name, msg)
	}
	rows := make([]map[string]string, 0, len(resp.Response))
	for _, r := range resp.Response {
		row := make(map[string]string, len(t.columns))
		for _, c := range t.columns {
			row[c] = r[c]
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// callExtension dials "<socket>.<uuid>" with osquery's thrift_timeout.
func (m *extManager) callExtension(id osquery.ExtensionRouteUUID, f func(context.Context, *osquery.ExtensionClient) error) error {
	timeout := time.Duration(max(m.d.fs.Int("thrift_timeout"), 1)) * time.Second
	conn, err := dialSocket(extensionSocket(m.path, id), timeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	trans := thrift.NewStreamTransportRW(conn)
	client := osquery.NewExtensionClientFactory(trans, thrift.NewTBinaryProtocolFactoryConf(&thrift.TConfiguration{}))
	ctx, cancel := context.WithTimeout(m.ctx, timeout)
	defer cancel()
	return f(ctx, client)
}

func extensionSocket(manager string, id osquery.ExtensionRouteUUID) string {
	return manager + "." + strconv.FormatInt(int64(id), 10)
}

func columnRoutes(t *table) []map[string]string {
	out := make([]map[string]string, len(t.columns))
	for i, c := range t.columns {
		out[i] = map[string]string{"id": "column", "name": c, "type": t.columnType(i), "op": "0"}
	}
	return out
}

// ---- the watcher ----

// watch pings every registered extension each --extensions_interval
// seconds (at least 200 ms, as osquery) and drops one that does not
// answer. As in osquery's ExtensionManagerWatcher, an extension whose
// socket is missing at its first check gets --extensions_timeout to create
// it; after that one failed check removes it.
func (m *extManager) watch(ctx context.Context) {
	secs, _ := strconv.Atoi(strings.TrimSpace(m.d.fs.String("extensions_interval")))
	interval := max(scaleDuration(time.Duration(secs)*time.Second, m.d.sw.intervalScale), 200*time.Millisecond)
	checked := map[osquery.ExtensionRouteUUID]bool{}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if m.isWedged() {
			continue // a wedged osqueryd watches nothing either
		}
		m.mu.Lock()
		ids := m.sortedIDsLocked()
		m.mu.Unlock()
		for _, id := range ids {
			if !m.alive(ctx, id, !checked[id]) {
				m.mu.Lock()
				delete(m.exts, id)
				m.mu.Unlock()
				m.d.log.Info("Extension has gone away", "uuid", id)
			}
			checked[id] = true
		}
	}
}

func (m *extManager) alive(ctx context.Context, id osquery.ExtensionRouteUUID, first bool) bool {
	path := extensionSocket(m.path, id)
	if !socketExists(path) && first {
		secs, _ := strconv.Atoi(strings.TrimSpace(m.d.fs.String("extensions_timeout")))
		deadline := time.Now().Add(max(time.Duration(secs)*time.Second, 200*time.Millisecond))
		for !socketExists(path) && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if !socketExists(path) {
		return false
	}
	err := m.callExtension(id, func(ctx context.Context, c *osquery.ExtensionClient) error {
		st, err := c.Ping(ctx)
		if err == nil && (st == nil || st.Code != extSuccess) {
			err = errors.New("ping failed")
		}
		return err
	})
	return err == nil
}

// extensionRows are the rows of osquery_extensions: the core, then each
// registered extension.
func (m *extManager) extensionRows(env *queryEnv) []map[string]string {
	path := env.flags.String("extensions_socket")
	rows := []map[string]string{{"uuid": "0", "name": "core", "version": env.version,
		"sdk_version": env.version, "path": path, "type": "core"}}
	if m == nil {
		return rows
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range m.sortedIDsLocked() {
		e := m.exts[id]
		rows = append(rows, map[string]string{"uuid": strconv.FormatInt(int64(id), 10), "name": e.info.Name,
			"version": e.info.Version, "sdk_version": e.info.SdkVersion, "path": extensionSocket(m.path, id), "type": "extension"})
	}
	return rows
}

func (m *extManager) sortedIDsLocked() []osquery.ExtensionRouteUUID {
	ids := make([]osquery.ExtensionRouteUUID, 0, len(m.exts))
	for id := range m.exts {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// versionAtLeast is osquery's versionAtLeast(required, sdk): an empty or
// "0.0.0" SDK version passes (osquery-go sends none).
func versionAtLeast(required, sdk string) bool {
	if required == "0.0.0" || sdk == "0.0.0" {
		return true
	}
	req, build := nonEmpty(strings.Split(required, ".")), nonEmpty(strings.Split(sdk, "."))
	for i, chunk := range build {
		if i >= len(req) {
			return true
		}
		a, errA := leadingInt(chunk)
		b, errB := leadingInt(req[i])
		if errA != nil || errB != nil {
			if chunk < req[i] {
				return false
			}
			continue
		}
		if a < b {
			return false
		}
		if a > b {
			return true
		}
	}
	return true
}

func nonEmpty(parts []string) []string {
	out := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// leadingInt reads the leading digits of s, as C++'s std::stoi does.
func leadingInt(s string) (int, error) {
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	return strconv.Atoi(s[:end])
}
