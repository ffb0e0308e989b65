package fleettest

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// nodeKeySize is Fleet's default osquery.node_key_size.
const nodeKeySize = 24

// defaultScriptTimeout is Fleet's default script execution timeout (seconds).
const defaultScriptTimeout = 300

// orbitOK writes a successful Orbit API answer. Fleet adds the capabilities
// header only on success (go-kit ServerAfter / HijackRender), and not at all
// when the capability list is empty.
func (s *Server) orbitOK(w http.ResponseWriter, v any) {
	s.setCaps(w)
	writeJSON(w, http.StatusOK, v)
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
}

func (s *Server) orbitEnroll(c *reqCtx) {
	var req orbitEnrollRequest
	if !decode(c, &req, s.strict()) {
		return
	}
	if !s.validSecret(req.EnrollSecret) {
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
	if h == nil {
		ident := req.OsqueryIdentifier
		if ident == "" {
			ident = req.HardwareUUID
		}
		id := s.st.hostID(ident)
		s.st.hostIDs[req.HardwareUUID] = id
		h = &OrbitHost{ID: id}
		s.st.orbitHosts[req.HardwareUUID] = h
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

// orbitHost authenticates by orbit_node_key; it writes the 401 itself.
func (s *Server) orbitHost(c *reqCtx, key string) (OrbitHost, bool) {
	if key == "" {
		authRequired(c.w)
		return OrbitHost{}, false
	}
	s.mu.Lock()
	h := s.st.orbitByKey[key]
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

type orbitNotifications struct {
	RenewEnrollmentProfile                  bool     `json:"renew_enrollment_profile,omitempty"`
	RotateDiskEncryptionKey                 bool     `json:"rotate_disk_encryption_key,omitempty"`
	NeedsMDMMigration                       bool     `json:"needs_mdm_migration,omitempty"`
	NeedsProgrammaticWindowsMDMEnrollment   bool     `json:"needs_programmatic_windows_mdm_enrollment,omitempty"`
	WindowsMDMDiscoveryEndpoint             string   `json:"windows_mdm_discovery_endpoint,omitempty"`
	NeedsProgrammaticWindowsMDMUnenrollment bool     `json:"needs_programmatic_windows_mdm_unenrollment,omitempty"`
	PendingScriptExecutionIDs               []string `json:"pending_script_execution_ids,omitempty"`
	EnforceBitLockerEncryption              bool     `json:"enforce_bitlocker_encryption,omitempty"`
	PendingSoftwareInstallerIDs             []string `json:"pending_software_installer_ids,omitempty"`
	RunSetupExperience                      bool     `json:"run_setup_experience,omitempty"`
	RunDiskEncryptionEscrow                 bool     `json:"run_disk_encryption_escrow,omitempty"`
}

// orbitConfigResponse is Fleet's fleet.OrbitConfig on the wire.
type orbitConfigResponse struct {
	ScriptExeTimeout int                `json:"script_execution_timeout,omitempty"`
	Flags            json.RawMessage    `json:"command_line_startup_flags,omitempty"`
	Extensions       json.RawMessage    `json:"extensions,omitempty"`
	NudgeConfig      json.RawMessage    `json:"nudge_config,omitempty"`
	Notifications    orbitNotifications `json:"notifications,omitempty"`
	UpdateChannels   *UpdateChannels    `json:"update_channels,omitempty"`
}

func (s *Server) orbitConfig(c *reqCtx) {
	var req struct {
		OrbitNodeKey string `json:"orbit_node_key"`
	}
	if !decode(c, &req, s.strict()) {
		return
	}
	if _, ok := s.orbitHost(c, req.OrbitNodeKey); !ok {
		return
	}
	s.mu.Lock()
	resp := orbitConfigResponse{
		ScriptExeTimeout: s.st.scriptTimeout,
		Flags:            s.st.flags,
		Extensions:       s.st.extensions,
		Notifications: orbitNotifications{
			NeedsMDMMigration:      s.st.desktop.NeedsMDMMigration,
			RenewEnrollmentProfile: s.st.desktop.RenewEnrollmentProfile,
		},
	}
	if s.st.channels != nil {
		ch := *s.st.channels
		resp.UpdateChannels = &ch
	}
	for _, sc := range s.st.scripts {
		if sc.result == nil {
			resp.Notifications.PendingScriptExecutionIDs = append(resp.Notifications.PendingScriptExecutionIDs, sc.execID)
		}
	}
	s.mu.Unlock()
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
		badRequest(c.w, "device auth token cannot be empty")
		return
	}
	if url.QueryEscape(req.DeviceAuthToken) != req.DeviceAuthToken {
		badRequest(c.w, "device auth token contains invalid characters")
		return
	}
	s.mu.Lock()
	if owner := s.st.tokens[req.DeviceAuthToken]; owner != nil && owner.HardwareUUID != h.HardwareUUID {
		s.mu.Unlock()
		writeFleetError(c.w, http.StatusConflict, "Conflict", "auth token conflicts with another host")
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
		OrbitNodeKey string `json:"orbit_node_key"`
		Email        string `json:"email"`
	}
	if !decode(c, &req, s.strict()) {
		return
	}
	h, ok := s.orbitHost(c, req.OrbitNodeKey)
	if !ok {
		return
	}
	if req.Email == "" {
		writeFleetErrorNamed(c.w, http.StatusUnprocessableEntity, "Validation Failed", "email", "email cannot be empty")
		return
	}
	s.mu.Lock()
	s.st.orbitHosts[h.HardwareUUID].Email = req.Email
	s.st.mappings = append(s.st.mappings, DeviceMapping{HostID: h.ID, HardwareUUID: h.HardwareUUID, Email: req.Email})
	s.mu.Unlock()
	s.orbitOK(c.w, struct{}{})
}

// hostScriptResult is Fleet's fleet.HostScriptResult on the wire.
type hostScriptResult struct {
	HostID         uint      `json:"host_id"`
	ExecutionID    string    `json:"execution_id"`
	ScriptContents string    `json:"script_contents"`
	Output         string    `json:"output"`
	Runtime        int       `json:"runtime"`
	ExitCode       *int64    `json:"exit_code"`
	Timeout        *int      `json:"timeout"`
	CreatedAt      time.Time `json:"created_at"`
	ScriptID       *uint     `json:"script_id"`
	PolicyID       *uint     `json:"policy_id"`
	TeamID         *uint     `json:"team_id"`
	UserID         *uint     `json:"user_id"`
	SyncRequest    bool      `json:"sync_request"`
}

func (s *Server) findScript(execID string) *script {
	for _, sc := range s.st.scripts {
		if sc.execID == execID {
			return sc
		}
	}
	return nil
}

func (s *Server) orbitScriptRequest(c *reqCtx) {
	var req struct {
		OrbitNodeKey string `json:"orbit_node_key"`
		ExecutionID  string `json:"execution_id"`
	}
	if !decode(c, &req, s.strict()) {
		return
	}
	h, ok := s.orbitHost(c, req.OrbitNodeKey)
	if !ok {
		return
	}
	s.mu.Lock()
	sc := s.findScript(req.ExecutionID)
	if sc == nil {
		s.mu.Unlock()
		notFound(c.w, "no script found for this host")
		return
	}
	timeout := s.st.scriptTimeout
	if timeout == 0 {
		timeout = defaultScriptTimeout
	}
	resp := hostScriptResult{
		HostID:         h.ID,
		ExecutionID:    sc.execID,
		ScriptContents: sc.contents,
		Timeout:        &timeout,
		CreatedAt:      s.now().UTC(),
	}
	if sc.result != nil {
		code := int64(sc.result.ExitCode)
		resp.ExitCode = &code
		resp.Output = sc.result.Output
		resp.Runtime = sc.result.Runtime
	}
	s.mu.Unlock()
	s.orbitOK(c.w, resp)
}

func (s *Server) orbitScriptResult(c *reqCtx) {
	var req struct {
		OrbitNodeKey string `json:"orbit_node_key"`
		HostID       uint   `json:"host_id"`
		ExecutionID  string `json:"execution_id"`
		Output       string `json:"output"`
		Runtime      int    `json:"runtime"`
		ExitCode     int    `json:"exit_code"`
		Timeout      int    `json:"timeout"`
	}
	if !decode(c, &req, s.strict()) {
		return
	}
	h, ok := s.orbitHost(c, req.OrbitNodeKey)
	if !ok {
		return
	}
	s.mu.Lock()
	sc := s.findScript(req.ExecutionID)
	if sc == nil {
		s.mu.Unlock()
		notFound(c.w, "no script found for this host")
		return
	}
	// Fleet always uses the authenticated host's id, whatever host_id says.
	sc.result = &ScriptResult{
		HostID: h.ID, HardwareUUID: h.HardwareUUID, ExecutionID: req.ExecutionID,
		Output: req.Output, Runtime: req.Runtime, ExitCode: req.ExitCode, Timeout: req.Timeout,
		ReceivedAt: s.now(),
	}
	s.mu.Unlock()
	s.orbitOK(c.w, struct{}{})
}
