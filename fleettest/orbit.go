package fleettest

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/url"
	"unicode/utf8"
)

// nodeKeySize is Fleet's default osquery.node_key_size.
const nodeKeySize = 24

// orbitOK writes a successful Orbit API answer with the capabilities header
// (go-kit ServerAfter / HijackRender in Fleet; no header at all when the
// capability list is empty).
func (s *Server) orbitOK(w http.ResponseWriter, v any) {
	s.setCaps(w)
	writeJSON(w, http.StatusOK, v)
}

// orbitFail writes a service-level error of the Orbit API. Fleet returns
// those inside the response struct, so go-kit's ServerAfter still adds the
// capabilities header (unlike node-key and decoding failures, which use
// authRequired/badRequest directly).
func (s *Server) orbitFail(w http.ResponseWriter, status int, message, reason string) {
	s.setCaps(w)
	writeFleetError(w, status, message, reason)
}

// orbitNotFound is the 404 of Fleet's service notFoundError: the reason is
// its Error() ("not found"), whatever the wrapping message said.
func (s *Server) orbitNotFound(w http.ResponseWriter, reason string) {
	s.orbitFail(w, http.StatusNotFound, "Resource Not Found", reason)
}

func (s *Server) setCaps(w http.ResponseWriter) {
	if caps := s.capabilities(); caps != "" {
		w.Header().Set(CapabilitiesHeader, caps)
	}
}

func (s *Server) strict() bool { return !s.cfg.AllowUnknownFields }

func (s *Server) validSecret(secret string) bool {
	ok := false
	for _, want := range s.cfg.EnrollSecrets {
		if want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(secret)) == 1 {
			ok = true
		}
	}
	return ok
}

type orbitEnrollRequest struct {
	EnrollSecret      string `json:"enroll_secret"`
	HardwareUUID      string `json:"hardware_uuid"`
	HardwareSerial    string `json:"hardware_serial"`
	Hostname          string `json:"hostname"`
	Platform          string `json:"platform"`
	PlatformLike      string `json:"platform_like"`
	OsqueryIdentifier string `json:"osquery_identifier"`
	ComputerName      string `json:"computer_name"`
	HardwareModel     string `json:"hardware_model"`
	// EUAToken is only sent by Windows agents after MDM enrollment.
	EUAToken string `json:"eua_token"`
}

// endUserAuthRequired is fleet.NewOrbitIDPAuthRequiredError(): an OrbitError,
// so no uuid, and the capabilities header as for any service error.
func (s *Server) endUserAuthRequired(w http.ResponseWriter) {
	s.setCaps(w)
	writeFleetErrorNoUUID(w, http.StatusUnauthorized, "END_USER_AUTH_REQUIRED", "END_USER_AUTH_REQUIRED")
}

func (s *Server) orbitEnroll(c *reqCtx) {
	var req orbitEnrollRequest
	if !decode(c, &req, s.strict()) {
		return
	}
	if !s.validSecret(req.EnrollSecret) {
		s.setCaps(c.w)
		authFailed(c.w)
		return
	}
	if req.HardwareUUID == "" {
		badRequest(c.w, "hardware_uuid is required")
		return
	}
	key := randomKey(nodeKeySize)
	s.mu.Lock()
	h := s.st.orbitHosts[req.HardwareUUID]
	if s.st.euaBlocks(req.EnrollSecret, req.HardwareUUID, c.r.Header.Get(CapabilitiesHeader), h != nil) {
		s.mu.Unlock()
		s.endUserAuthRequired(c.w)
		return
	}
	if h == nil {
		ident := req.OsqueryIdentifier
		if ident == "" {
			ident = req.HardwareUUID
		}
		id := s.st.hostID(ident)
		s.st.hostIDs[req.HardwareUUID] = id
		h = &OrbitHost{ID: id}
		s.st.orbitHosts[req.HardwareUUID] = h
		s.st.addScriptTemplateCopies(req.HardwareUUID)
	} else {
		delete(s.st.orbitByKey, h.OrbitNodeKey) // re-enroll: the old key dies
	}
	h.OrbitNodeKey = key
	h.HardwareUUID = req.HardwareUUID
	h.HardwareSerial = req.HardwareSerial
	h.Hostname = req.Hostname
	h.Platform = req.Platform
	h.PlatformLike = req.PlatformLike
	h.OsqueryIdentifier = req.OsqueryIdentifier
	h.ComputerName = req.ComputerName
	h.HardwareModel = req.HardwareModel
	h.EnrolledAt = s.now()
	h.Enrollments++
	s.st.orbitByKey[key] = h
	s.mu.Unlock()
	s.orbitOK(c.w, map[string]string{"orbit_node_key": key})
}

// orbitAuth is the node key of an authenticated Orbit API body.
type orbitAuth struct {
	OrbitNodeKey string `json:"orbit_node_key"`
}

func (a *orbitAuth) nodeKey() string { return a.OrbitNodeKey }

// orbitRequest decodes an authenticated Orbit API body (a struct embedding
// orbitAuth) into req and returns its host; on a bad body or key it has
// written the error.
func (s *Server) orbitRequest(c *reqCtx, req interface{ nodeKey() string }) (OrbitHost, bool) {
	if !decode(c, req, s.strict()) {
		return OrbitHost{}, false
	}
	return s.orbitHost(c, req.nodeKey())
}

// orbitHost authenticates by orbit_node_key; it writes the 401 itself.
func (s *Server) orbitHost(c *reqCtx, key string) (OrbitHost, bool) {
	return s.authenticated(c, func() *OrbitHost { return s.st.orbitByKey[key] })
}

// authenticated copies the host find returns under the lock; no host
// (an empty, unknown or expired key or token) is a 401, written here.
func (s *Server) authenticated(c *reqCtx, find func() *OrbitHost) (OrbitHost, bool) {
	s.mu.Lock()
	h := find()
	var cp OrbitHost
	if h != nil {
		cp = *h
	}
	s.mu.Unlock()
	if h == nil {
		authRequired(c.w)
		return OrbitHost{}, false
	}
	return cp, true
}

// orbitNotifications is Fleet's fleet.OrbitConfigNotifications on the wire.
type orbitNotifications struct {
	Notifications
	PendingScriptExecutionIDs   []string `json:"pending_script_execution_ids,omitempty"`
	PendingSoftwareInstallerIDs []string `json:"pending_software_installer_ids,omitempty"`
}

// encode renders the notifications object, Extra fields included.
func (n orbitNotifications) encode() (json.RawMessage, error) {
	extra := n.Extra
	n.Extra = nil
	b, err := json.Marshal(n)
	if err != nil || len(extra) == 0 {
		return b, err
	}
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range extra {
		m[k] = v
	}
	return json.Marshal(m)
}

// orbitConfigResponse is Fleet's fleet.OrbitConfig on the wire.
type orbitConfigResponse struct {
	ScriptExeTimeout int             `json:"script_execution_timeout,omitempty"`
	Flags            json.RawMessage `json:"command_line_startup_flags,omitempty"`
	Extensions       json.RawMessage `json:"extensions,omitempty"`
	NudgeConfig      json.RawMessage `json:"nudge_config,omitempty"`
	Notifications    json.RawMessage `json:"notifications"`
	UpdateChannels   *UpdateChannels `json:"update_channels,omitempty"`
	DebugLogging     *bool           `json:"debug_logging,omitempty"`
}

func (s *Server) orbitConfig(c *reqCtx) {
	var req orbitAuth
	h, ok := s.orbitRequest(c, &req)
	if !ok {
		return
	}
	s.mu.Lock()
	var notifs orbitNotifications
	if n := s.st.notifs[h.HardwareUUID]; n != nil {
		notifs.Notifications = *n
		// One-shot, as Fleet's ClearPendingEscrow after computing the config.
		n.RunDiskEncryptionEscrow = false
	}
	notifs.NeedsMDMMigration = notifs.NeedsMDMMigration || s.st.desktop.NeedsMDMMigration
	notifs.RenewEnrollmentProfile = notifs.RenewEnrollmentProfile || s.st.desktop.RenewEnrollmentProfile
	// Only the activated item is listed, as Fleet's ListReadyToExecute*.
	if q := s.st.queues[h.HardwareUUID]; q != nil {
		if a := q.active(); a != nil {
			if a.kind == kindScript {
				notifs.PendingScriptExecutionIDs = []string{a.id}
			} else {
				notifs.PendingSoftwareInstallerIDs = []string{a.id}
			}
		}
	}
	resp := orbitConfigResponse{
		ScriptExeTimeout: s.st.scriptTimeout,
		Flags:            s.st.flags,
		Extensions:       s.st.extensions,
		DebugLogging:     s.debugLoggingLocked(h.HardwareUUID),
	}
	if s.st.channels != nil {
		ch := *s.st.channels
		resp.UpdateChannels = &ch
	}
	s.mu.Unlock()
	raw, err := notifs.encode()
	if err != nil {
		// SetNotifications validated every Extra value: this cannot happen.
		s.orbitFail(c.w, http.StatusInternalServerError, "encode notifications", err.Error())
		return
	}
	resp.Notifications = raw
	s.orbitOK(c.w, resp)
}

func (s *Server) orbitPing(c *reqCtx) {
	s.setCaps(c.w)
	c.w.WriteHeader(http.StatusOK)
}

func (s *Server) orbitDeviceToken(c *reqCtx) {
	var req struct {
		OrbitNodeKey    string `json:"orbit_node_key"`
		DeviceAuthToken string `json:"device_auth_token"`
	}
	if !decode(c, &req, s.strict()) {
		return
	}
	h, ok := s.orbitHost(c, req.OrbitNodeKey)
	if !ok {
		return
	}
	if req.DeviceAuthToken == "" {
		s.orbitFail(c.w, http.StatusBadRequest, "Bad request", "device auth token cannot be empty")
		return
	}
	if url.QueryEscape(req.DeviceAuthToken) != req.DeviceAuthToken {
		s.orbitFail(c.w, http.StatusBadRequest, "Bad request", "device auth token contains invalid characters")
		return
	}
	s.mu.Lock()
	if owner := s.st.tokens[req.DeviceAuthToken]; owner != nil && owner.HardwareUUID != h.HardwareUUID {
		s.mu.Unlock()
		s.orbitFail(c.w, http.StatusConflict, "Conflict", "auth token conflicts with another host")
		return
	}
	host := s.st.orbitHosts[h.HardwareUUID]
	if host.DeviceToken != req.DeviceAuthToken {
		// A new token replaces the old one and starts its TTL; re-sending
		// the current token leaves its age alone.
		if host.DeviceToken != "" {
			delete(s.st.tokens, host.DeviceToken)
			delete(s.st.tokenTime, host.DeviceToken)
		}
		host.DeviceToken = req.DeviceAuthToken
		s.st.tokens[req.DeviceAuthToken] = host
		s.st.tokenTime[req.DeviceAuthToken] = s.now()
	}
	s.mu.Unlock()
	s.orbitOK(c.w, struct{}{})
}

func (s *Server) orbitDeviceMapping(c *reqCtx) {
	var req struct {
		orbitAuth
		Email string `json:"email"`
	}
	h, ok := s.orbitRequest(c, &req)
	if !ok {
		return
	}
	if req.Email == "" {
		s.setCaps(c.w)
		writeFleetErrorNamed(c.w, http.StatusUnprocessableEntity, "Validation Failed", "email", "email cannot be empty")
		return
	}
	s.mu.Lock()
	s.st.orbitHosts[h.HardwareUUID].Email = req.Email
	s.st.mappings = append(s.st.mappings, DeviceMapping{HostID: h.ID, HardwareUUID: h.HardwareUUID, Email: req.Email})
	s.mu.Unlock()
	s.orbitOK(c.w, struct{}{})
}

// hostScriptResult is Fleet's fleet.HostScriptResult on the wire
// (created_at, user_id and sync_request are json:"-" in Fleet; timeout is
// only known once the result came in).
type hostScriptResult struct {
	HostID         uint   `json:"host_id"`
	ExecutionID    string `json:"execution_id"`
	ScriptContents string `json:"script_contents"`
	Output         string `json:"output"`
	Runtime        int    `json:"runtime"`
	ExitCode       *int64 `json:"exit_code"`
	Timeout        *int   `json:"timeout"`
	ScriptID       *uint  `json:"script_id"`
	PolicyID       *uint  `json:"policy_id"`
	TeamID         *uint  `json:"team_id"`
	Message        string `json:"message"`
}

// maxScriptOutputRunes is what Fleet keeps of an output (truncateScriptResult).
const maxScriptOutputRunes = 10000

// truncateOutput keeps the last maxScriptOutputRunes runes, as Fleet.
func truncateOutput(out string) string {
	if len(out) > utf8.UTFMax*maxScriptOutputRunes {
		out = out[len(out)-utf8.UTFMax*maxScriptOutputRunes:]
	}
	if utf8.RuneCountInString(out) > maxScriptOutputRunes {
		r := []rune(out)
		out = string(r[len(r)-maxScriptOutputRunes:])
	}
	return out
}

func (s *Server) orbitScriptRequest(c *reqCtx) {
	var req struct {
		orbitAuth
		ExecutionID string `json:"execution_id"`
	}
	h, ok := s.orbitRequest(c, &req)
	if !ok {
		return
	}
	s.mu.Lock()
	a, other := s.st.lookup(h.HardwareUUID, req.ExecutionID, kindScript)
	if a == nil {
		s.mu.Unlock()
		s.itemNotFound(c, other, "HostScriptResult", req.ExecutionID)
		return
	}
	resp := hostScriptResult{HostID: h.ID, ExecutionID: a.id, ScriptContents: a.contents}
	if r := a.scriptResult; r != nil {
		code, timeout := int64(r.ExitCode), r.Timeout
		resp.ExitCode, resp.Timeout = &code, &timeout
		resp.Output, resp.Runtime = r.Output, r.Runtime
	}
	s.mu.Unlock()
	s.orbitOK(c.w, resp)
}

func (s *Server) orbitScriptResult(c *reqCtx) {
	var req struct {
		orbitAuth
		HostID      uint   `json:"host_id"`
		ExecutionID string `json:"execution_id"`
		Output      string `json:"output"`
		Runtime     int    `json:"runtime"`
		ExitCode    int    `json:"exit_code"`
		Timeout     int    `json:"timeout"`
	}
	h, ok := s.orbitRequest(c, &req)
	if !ok {
		return
	}
	s.mu.Lock()
	// Fleet updates host_script_results WHERE host_id AND execution_id, and
	// only rows without a result: a result for another host's id, an unknown
	// id, an item still waiting in the queue or an answered one changes
	// nothing and is still a 200.
	a, _ := s.st.lookup(h.HardwareUUID, req.ExecutionID, kindScript)
	if a != nil && !a.done {
		if q := s.st.queues[h.HardwareUUID]; q.active() == a {
			// Fleet always uses the authenticated host's id, whatever host_id says.
			a.scriptResult = &ScriptResult{
				HostID: h.ID, HardwareUUID: h.HardwareUUID, ExecutionID: req.ExecutionID,
				Output: truncateOutput(req.Output), Runtime: req.Runtime, ExitCode: int(int32(req.ExitCode)), Timeout: req.Timeout,
				ReceivedAt: s.now(),
			}
			a.done = true
		}
	}
	s.mu.Unlock()
	s.orbitOK(c.w, struct{}{})
}
