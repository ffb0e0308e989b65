package fleettest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// faultJSON is Fault with durations as Go duration strings ("1.5s").
type faultJSON struct {
	Method      string `json:"method,omitempty"`
	Status      int    `json:"status,omitempty"`
	Delay       string `json:"delay,omitempty"`
	OversizeMiB int    `json:"oversize_mib,omitempty"`
	Malformed   bool   `json:"malformed,omitempty"`
	Reset       bool   `json:"reset,omitempty"`
	Times       int    `json:"times,omitempty"`
	For         string `json:"for,omitempty"`
}

func (fj faultJSON) fault() (Fault, error) {
	f := Fault{Method: fj.Method, Status: fj.Status, OversizeMiB: fj.OversizeMiB, Malformed: fj.Malformed, Reset: fj.Reset, Times: fj.Times}
	var err error
	if fj.Delay != "" {
		if f.Delay, err = time.ParseDuration(fj.Delay); err != nil {
			return f, fmt.Errorf("delay: %w", err)
		}
	}
	if fj.For != "" {
		if f.For, err = time.ParseDuration(fj.For); err != nil {
			return f, fmt.Errorf("for: %w", err)
		}
	}
	return f, nil
}

func faultToJSON(f Fault) faultJSON {
	fj := faultJSON{Method: f.Method, Status: f.Status, OversizeMiB: f.OversizeMiB, Malformed: f.Malformed, Reset: f.Reset, Times: f.Times}
	if f.Delay > 0 {
		fj.Delay = f.Delay.String()
	}
	if f.For > 0 {
		fj.For = f.For.String()
	}
	return fj
}

func adminError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, map[string]string{"error": fmt.Sprintf(format, args...)})
}

// adminDecode decodes the body strictly; "null" leaves dst untouched and reports isNull.
func adminDecode(w http.ResponseWriter, r *http.Request, dst any) (isNull, ok bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if err != nil {
		adminError(w, http.StatusBadRequest, "read body: %v", err)
		return false, false
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 || string(body) == "null" {
		return true, true
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		adminError(w, http.StatusBadRequest, "decode body: %v", err)
		return false, false
	}
	return false, true
}

func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	key := r.Method + " " + strings.TrimSuffix(r.URL.Path, "/")
	switch key {
	case "GET /_admin/calls":
		q := r.URL.Query()
		writeJSON(w, http.StatusOK, s.CallsMatching(CallFilter{Method: q.Get("method"), Path: q.Get("path"), PathPrefix: q.Get("prefix")}))
	case "DELETE /_admin/calls":
		s.ResetCalls()
		writeJSON(w, http.StatusOK, struct{}{})
	case "GET /_admin/hosts/orbit":
		writeJSON(w, http.StatusOK, s.OrbitHosts())
	case "GET /_admin/hosts/osquery":
		writeJSON(w, http.StatusOK, s.OsqueryHosts())
	case "POST /_admin/hosts/invalidate_node_keys":
		s.InvalidateNodeKeys()
		writeJSON(w, http.StatusOK, struct{}{})
	case "GET /_admin/device_tokens":
		writeJSON(w, http.StatusOK, s.DeviceTokens())
	case "PUT /_admin/startup_flags":
		var flags map[string]any
		isNull, ok := adminDecode(w, r, &flags)
		if !ok {
			return
		}
		if isNull {
			flags = nil
		}
		if err := s.SetStartupFlags(flags); err != nil {
			adminError(w, http.StatusBadRequest, "encode flags: %v", err)
			return
		}
		writeJSON(w, http.StatusOK, struct{}{})
	case "PUT /_admin/update_channels":
		var ch UpdateChannels
		isNull, ok := adminDecode(w, r, &ch)
		if !ok {
			return
		}
		if isNull {
			s.ClearUpdateChannels()
		} else {
			s.SetUpdateChannels(ch.Orbit, ch.Osqueryd, ch.Desktop)
		}
		writeJSON(w, http.StatusOK, struct{}{})
	case "PUT /_admin/extensions":
		var ext map[string]Extension
		if _, ok := adminDecode(w, r, &ext); !ok {
			return
		}
		s.SetExtensions(ext)
		writeJSON(w, http.StatusOK, struct{}{})
	case "PUT /_admin/capabilities":
		var body struct {
			Capabilities       string  `json:"capabilities"`
			DeviceCapabilities *string `json:"device_capabilities"`
		}
		if _, ok := adminDecode(w, r, &body); !ok {
			return
		}
		s.SetCapabilities(body.Capabilities)
		if body.DeviceCapabilities != nil {
			s.SetDeviceCapabilities(*body.DeviceCapabilities)
		}
		writeJSON(w, http.StatusOK, struct{}{})
	case "PUT /_admin/script_execution_timeout":
		var body struct {
			Seconds int `json:"seconds"`
		}
		if _, ok := adminDecode(w, r, &body); !ok {
			return
		}
		s.SetScriptExecutionTimeout(body.Seconds)
		writeJSON(w, http.StatusOK, struct{}{})
	case "POST /_admin/scripts":
		var body struct {
			ExecutionID string `json:"execution_id"`
			Contents    string `json:"contents"`
		}
		if _, ok := adminDecode(w, r, &body); !ok {
			return
		}
		if body.ExecutionID == "" {
			adminError(w, http.StatusBadRequest, "execution_id is required")
			return
		}
		s.AddScript(body.ExecutionID, body.Contents)
		writeJSON(w, http.StatusOK, struct{}{})
	case "POST /_admin/hosts/scripts":
		var body struct {
			HardwareUUID string `json:"hardware_uuid"`
			Contents     string `json:"contents"`
		}
		if _, ok := adminDecode(w, r, &body); !ok {
			return
		}
		id, err := s.QueueScript(body.HardwareUUID, body.Contents)
		if err != nil {
			adminError(w, http.StatusBadRequest, "%v", err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"execution_id": id})
	case "POST /_admin/software_installers":
		var in SoftwareInstaller
		if _, ok := adminDecode(w, r, &in); !ok {
			return
		}
		id, err := s.AddSoftwareInstaller(in)
		if err != nil {
			adminError(w, http.StatusBadRequest, "%v", err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]uint{"installer_id": id})
	case "POST /_admin/hosts/software_installs":
		var body struct {
			HardwareUUID string `json:"hardware_uuid"`
			InstallerID  uint   `json:"installer_id"`
		}
		if _, ok := adminDecode(w, r, &body); !ok {
			return
		}
		id, err := s.QueueSoftwareInstall(body.HardwareUUID, body.InstallerID)
		if err != nil {
			adminError(w, http.StatusBadRequest, "%v", err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"install_id": id})
	case "GET /_admin/software_installs/results":
		writeJSON(w, http.StatusOK, nonNil(s.SoftwareInstallResults()))
	case "GET /_admin/hosts/queue":
		writeJSON(w, http.StatusOK, nonNil(s.Queue(r.URL.Query().Get("hardware_uuid"))))
	case "PUT /_admin/hosts/notifications":
		var body struct {
			HardwareUUID  string        `json:"hardware_uuid"`
			Notifications Notifications `json:"notifications"`
		}
		if _, ok := adminDecode(w, r, &body); !ok {
			return
		}
		if err := s.SetNotifications(body.HardwareUUID, body.Notifications); err != nil {
			adminError(w, http.StatusBadRequest, "%v", err)
			return
		}
		writeJSON(w, http.StatusOK, struct{}{})
	case "PUT /_admin/hosts/debug_logging":
		var body struct {
			HardwareUUID string `json:"hardware_uuid"`
			DebugLogging *bool  `json:"debug_logging"`
			Duration     string `json:"duration"`
		}
		if _, ok := adminDecode(w, r, &body); !ok {
			return
		}
		d := DebugLogging{Value: body.DebugLogging}
		if body.Duration != "" {
			var err error
			if d.Duration, err = time.ParseDuration(body.Duration); err != nil {
				adminError(w, http.StatusBadRequest, "duration: %v", err)
				return
			}
		}
		if err := s.SetDebugLogging(body.HardwareUUID, d); err != nil {
			adminError(w, http.StatusBadRequest, "%v", err)
			return
		}
		writeJSON(w, http.StatusOK, struct{}{})
	case "PUT /_admin/end_user_auth":
		var body struct {
			EnrollSecret string `json:"enroll_secret"`
			Required     bool   `json:"required"`
		}
		if _, ok := adminDecode(w, r, &body); !ok {
			return
		}
		s.RequireEndUserAuth(body.EnrollSecret, body.Required)
		writeJSON(w, http.StatusOK, struct{}{})
	case "PUT /_admin/end_user_auth/bypass":
		var body struct {
			Allow bool `json:"allow"`
		}
		if _, ok := adminDecode(w, r, &body); !ok {
			return
		}
		s.AllowEndUserAuthBypass(body.Allow)
		writeJSON(w, http.StatusOK, struct{}{})
	case "POST /_admin/end_user_auth/complete":
		var body struct {
			HardwareUUID string `json:"hardware_uuid"`
		}
		if _, ok := adminDecode(w, r, &body); !ok {
			return
		}
		if body.HardwareUUID == "" {
			adminError(w, http.StatusBadRequest, "hardware_uuid is required")
			return
		}
		s.CompleteEndUserAuth(body.HardwareUUID)
		writeJSON(w, http.StatusOK, struct{}{})
	case "GET /_admin/scripts/results":
		writeJSON(w, http.StatusOK, nonNil(s.ScriptResults()))
	case "PUT /_admin/policies":
		var ps []Policy
		if _, ok := adminDecode(w, r, &ps); !ok {
			return
		}
		s.SetPolicies(ps)
		writeJSON(w, http.StatusOK, struct{}{})
	case "PUT /_admin/desktop":
		var d DesktopInfo
		if _, ok := adminDecode(w, r, &d); !ok {
			return
		}
		s.SetDesktopInfo(d)
		writeJSON(w, http.StatusOK, struct{}{})
	case "GET /_admin/device_mappings":
		writeJSON(w, http.StatusOK, nonNil(s.DeviceMappings()))
	case "GET /_admin/fleetd_errors":
		writeJSON(w, http.StatusOK, nonNil(s.FleetdErrors()))
	case "POST /_admin/distributed_queries":
		var body struct {
			Name string `json:"name"`
			SQL  string `json:"sql"`
		}
		if _, ok := adminDecode(w, r, &body); !ok {
			return
		}
		if body.Name == "" || body.SQL == "" {
			adminError(w, http.StatusBadRequest, "name and sql are required")
			return
		}
		s.AddDistributedQuery(body.Name, body.SQL)
		writeJSON(w, http.StatusOK, struct{}{})
	case "GET /_admin/distributed_results":
		writeJSON(w, http.StatusOK, nonNil(s.DistributedResults(r.URL.Query().Get("name"))))
	case "PUT /_admin/osquery_config":
		var cfg map[string]any
		if _, ok := adminDecode(w, r, &cfg); !ok {
			return
		}
		if err := s.SetOsqueryConfig(cfg); err != nil {
			adminError(w, http.StatusBadRequest, "encode config: %v", err)
			return
		}
		writeJSON(w, http.StatusOK, struct{}{})
	case "GET /_admin/osquery_logs":
		writeJSON(w, http.StatusOK, nonNil(s.OsqueryLogs(r.URL.Query().Get("type"))))
	case "GET /_admin/carves":
		writeJSON(w, http.StatusOK, s.Carves())
	case "GET /_admin/faults":
		out := map[string]faultJSON{}
		for p, f := range s.Faults() {
			out[p] = faultToJSON(f)
		}
		writeJSON(w, http.StatusOK, out)
	case "PUT /_admin/faults":
		var body struct {
			PathPrefix string    `json:"path_prefix"`
			Fault      faultJSON `json:"fault"`
		}
		if _, ok := adminDecode(w, r, &body); !ok {
			return
		}
		if !strings.HasPrefix(body.PathPrefix, "/") {
			adminError(w, http.StatusBadRequest, "path_prefix must start with /")
			return
		}
		f, err := body.Fault.fault()
		if err != nil {
			adminError(w, http.StatusBadRequest, "fault: %v", err)
			return
		}
		s.SetFault(body.PathPrefix, f)
		writeJSON(w, http.StatusOK, struct{}{})
	case "DELETE /_admin/faults":
		s.ClearFaults()
		writeJSON(w, http.StatusOK, struct{}{})
	default:
		adminError(w, http.StatusNotFound, "no admin endpoint %s %s", r.Method, r.URL.Path)
	}
}

// nonNil makes empty lists encode as [] rather than null.
func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}
