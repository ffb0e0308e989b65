package fleettest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

func (s *Server) osqueryEnroll(c *reqCtx) {
	var req struct {
		EnrollSecret   string          `json:"enroll_secret"`
		HostIdentifier string          `json:"host_identifier"`
		PlatformType   string          `json:"platform_type"`
		HostDetails    json.RawMessage `json:"host_details"`
	}
	if !decodeOsquery(c, &req) {
		return
	}
	if !s.validSecret(req.EnrollSecret) {
		osqueryError(c.w, http.StatusUnauthorized, "enroll failed: no matching secret found", true)
		return
	}
	if req.HostIdentifier == "" {
		osqueryError(c.w, http.StatusUnauthorized, "enroll failed: missing host_identifier", true)
		return
	}
	key := randomKey(nodeKeySize)
	s.mu.Lock()
	h := s.st.osqHosts[req.HostIdentifier]
	if h == nil {
		h = &OsqueryHost{ID: s.st.hostID(req.HostIdentifier), HostIdentifier: req.HostIdentifier}
		s.st.osqHosts[req.HostIdentifier] = h
	} else {
		delete(s.st.osqByKey, h.NodeKey)
	}
	h.NodeKey = key
	h.PlatformType = req.PlatformType
	h.HostDetails = append(json.RawMessage(nil), req.HostDetails...)
	h.EnrolledAt = s.now()
	h.LastSeen = h.EnrolledAt
	h.Enrollments++
	s.st.osqByKey[key] = h
	s.mu.Unlock()
	writeJSON(c.w, http.StatusOK, map[string]string{"node_key": key})
}

// osqueryHost authenticates by node_key; it writes the 401 itself.
func (s *Server) osqueryHost(c *reqCtx, key string) (OsqueryHost, bool) {
	if key == "" {
		osqueryError(c.w, http.StatusUnauthorized, "authentication error: missing node key", true)
		return OsqueryHost{}, false
	}
	s.mu.Lock()
	h := s.st.osqByKey[key]
	var cp OsqueryHost
	if h != nil {
		h.LastSeen = s.now()
		cp = *h
	}
	s.mu.Unlock()
	if h == nil {
		osqueryError(c.w, http.StatusUnauthorized, "authentication error: invalid node key", true)
		return OsqueryHost{}, false
	}
	return cp, true
}

// osqueryAuth is the node key of an authenticated osquery TLS API body.
type osqueryAuth struct {
	NodeKey string `json:"node_key"`
}

func (a *osqueryAuth) nodeKey() string { return a.NodeKey }

// osqueryRequest decodes an authenticated osquery TLS API body (a struct
// embedding osqueryAuth) into req and returns its host; on a bad body or
// key it has written the error.
func (s *Server) osqueryRequest(c *reqCtx, req interface{ nodeKey() string }) (OsqueryHost, bool) {
	if !decodeOsquery(c, req) {
		return OsqueryHost{}, false
	}
	return s.osqueryHost(c, req.nodeKey())
}

func (s *Server) osqueryConfig(c *reqCtx) {
	var req osqueryAuth
	if _, ok := s.osqueryRequest(c, &req); !ok {
		return
	}
	s.mu.Lock()
	cfg := append(json.RawMessage(nil), s.st.osqConfig...)
	s.mu.Unlock()
	writeJSON(c.w, http.StatusOK, cfg)
}

func (s *Server) osqueryDistributedRead(c *reqCtx) {
	var req osqueryAuth
	h, ok := s.osqueryRequest(c, &req)
	if !ok {
		return
	}
	queries := map[string]string{}
	s.mu.Lock()
	for _, q := range s.st.dqueries {
		if !q.sentTo[h.ID] {
			q.sentTo[h.ID] = true
			queries[q.name] = q.sql
		}
	}
	s.mu.Unlock()
	writeJSON(c.w, http.StatusOK, map[string]any{"queries": queries, "discovery": map[string]string{}})
}

func (s *Server) osqueryDistributedWrite(c *reqCtx) {
	var req struct {
		osqueryAuth
		Queries  map[string]json.RawMessage `json:"queries"`
		Statuses map[string]json.RawMessage `json:"statuses"`
		Messages map[string]string          `json:"messages"`
		Stats    map[string]json.RawMessage `json:"stats"`
	}
	h, ok := s.osqueryRequest(c, &req)
	if !ok {
		return
	}
	names := map[string]bool{}
	for n := range req.Queries {
		names[n] = true
	}
	for n := range req.Statuses {
		names[n] = true
	}
	now := s.now()
	s.mu.Lock()
	for n := range names {
		rows := decodeRows(req.Queries[n])
		s.st.dresults[n] = append(s.st.dresults[n], DistributedResult{
			HostID: h.ID, HostIdentifier: h.HostIdentifier, Rows: rows,
			Status: parseStatus(req.Statuses[n]), Message: req.Messages[n], Stats: req.Stats[n], ReceivedAt: now,
		})
	}
	s.mu.Unlock()
	writeJSON(c.w, http.StatusOK, struct{}{})
}

func (s *Server) osqueryLog(c *reqCtx) {
	var req struct {
		osqueryAuth
		LogType string            `json:"log_type"`
		Data    []json.RawMessage `json:"data"`
	}
	if _, ok := s.osqueryRequest(c, &req); !ok {
		return
	}
	if req.LogType != "status" && req.LogType != "result" {
		osqueryError(c.w, http.StatusInternalServerError, "unknown log type", false)
		return
	}
	s.mu.Lock()
	s.st.logs[req.LogType] = append(s.st.logs[req.LogType], req.Data...)
	s.mu.Unlock()
	writeJSON(c.w, http.StatusOK, struct{}{})
}

func (s *Server) osqueryCarveBegin(c *reqCtx) {
	var req struct {
		osqueryAuth
		BlockCount int    `json:"block_count"`
		BlockSize  int    `json:"block_size"`
		CarveSize  int    `json:"carve_size"`
		CarveID    string `json:"carve_id"`
		RequestID  string `json:"request_id"`
	}
	h, ok := s.osqueryRequest(c, &req)
	if !ok {
		return
	}
	if req.BlockCount <= 0 || req.BlockSize <= 0 {
		osqueryError(c.w, http.StatusInternalServerError, "carve begin: block_count and block_size must be positive", false)
		return
	}
	id := newUUID()
	s.mu.Lock()
	s.st.carves[id] = &Carve{
		SessionID: id, HostID: h.ID, CarveID: req.CarveID, RequestID: req.RequestID,
		BlockCount: req.BlockCount, BlockSize: req.BlockSize, CarveSize: req.CarveSize, Blocks: map[int][]byte{},
	}
	s.st.carveOrder = append(s.st.carveOrder, id)
	s.mu.Unlock()
	writeJSON(c.w, http.StatusOK, map[string]any{"success": true, "session_id": id})
}

func (s *Server) osqueryCarveBlock(c *reqCtx) {
	// osquery sends no node key with blocks; the session id authenticates.
	var req struct {
		BlockID   int    `json:"block_id"`
		SessionID string `json:"session_id"`
		RequestID string `json:"request_id"`
		Data      string `json:"data"`
	}
	if !decodeOsquery(c, &req) {
		return
	}
	data, err := base64.StdEncoding.DecodeString(req.Data)
	if err != nil {
		osqueryError(c.w, http.StatusInternalServerError, "carve block: data is not base64", false)
		return
	}
	s.mu.Lock()
	cv := s.st.carves[req.SessionID]
	if cv == nil {
		s.mu.Unlock()
		osqueryError(c.w, http.StatusInternalServerError, "get carve by session id: not found", false)
		return
	}
	if req.BlockID < 0 || req.BlockID >= cv.BlockCount {
		s.mu.Unlock()
		osqueryError(c.w, http.StatusInternalServerError, "carve block: block_id out of range", false)
		return
	}
	cv.Blocks[req.BlockID] = data
	s.mu.Unlock()
	writeJSON(c.w, http.StatusOK, map[string]any{"success": true})
}

// parseStatus accepts 0 and "0": osquery versions differ, and Fleet's shim takes both.
func parseStatus(raw json.RawMessage) int {
	var n int
	if json.Unmarshal(raw, &n) == nil {
		return n
	}
	var str string
	if json.Unmarshal(raw, &str) == nil {
		if v, err := strconv.Atoi(str); err == nil {
			return v
		}
	}
	return 0
}

// decodeRows reads a query's rows. osquery sends "" (or nothing) instead of
// an array for a failed query, and Fleet accepts that, so this does too.
func decodeRows(raw json.RawMessage) []map[string]string {
	var in []map[string]any
	if json.Unmarshal(raw, &in) != nil {
		return []map[string]string{}
	}
	rows := make([]map[string]string, 0, len(in))
	for _, r := range in {
		row := make(map[string]string, len(r))
		for k, v := range r {
			if str, ok := v.(string); ok {
				row[k] = str
			} else {
				row[k] = fmt.Sprint(v)
			}
		}
		rows = append(rows, row)
	}
	return rows
}
