package fleettest

import (
	"encoding/json"
	"net/http"
	"time"
)

// OrbitHost is a host enrolled through POST /api/fleet/orbit/enroll.
type OrbitHost struct {
	ID                uint      `json:"id"`
	OrbitNodeKey      string    `json:"orbit_node_key"`
	HardwareUUID      string    `json:"hardware_uuid"`
	HardwareSerial    string    `json:"hardware_serial"`
	Hostname          string    `json:"hostname"`
	Platform          string    `json:"platform"`
	PlatformLike      string    `json:"platform_like,omitempty"`
	OsqueryIdentifier string    `json:"osquery_identifier"`
	ComputerName      string    `json:"computer_name"`
	HardwareModel     string    `json:"hardware_model"`
	EnrolledAt        time.Time `json:"enrolled_at"`
	// Enrollments counts enroll calls for this hardware UUID (re-enrolls included).
	Enrollments int `json:"enrollments"`
	// DeviceToken is the host's current device auth token ("" if none yet).
	DeviceToken string `json:"device_token,omitempty"`
	// Email is the last email sent to PUT /api/fleet/orbit/device_mapping.
	Email string `json:"email,omitempty"`
}

// OsqueryHost is a host enrolled through the osquery TLS enroll endpoint.
type OsqueryHost struct {
	ID             uint            `json:"id"`
	NodeKey        string          `json:"node_key"`
	HostIdentifier string          `json:"host_identifier"`
	PlatformType   string          `json:"platform_type,omitempty"`
	HostDetails    json.RawMessage `json:"host_details,omitempty"`
	EnrolledAt     time.Time       `json:"enrolled_at"`
	Enrollments    int             `json:"enrollments"`
	// LastSeen is the time of the last authenticated osquery call.
	LastSeen time.Time `json:"last_seen"`
}

// Extension is one entry of the Orbit config "extensions" object.
type Extension struct {
	Platform string   `json:"platform"`
	Channel  string   `json:"channel"`
	Labels   []string `json:"labels,omitempty"`
}

// UpdateChannels is the Orbit config "update_channels" object.
type UpdateChannels struct {
	Orbit    string `json:"orbit"`
	Osqueryd string `json:"osqueryd"`
	Desktop  string `json:"desktop"`
}

// ScriptResult is what a host posted to /api/fleet/orbit/scripts/result.
type ScriptResult struct {
	HostID       uint      `json:"host_id"`
	HardwareUUID string    `json:"hardware_uuid"`
	ExecutionID  string    `json:"execution_id"`
	Output       string    `json:"output"`
	Runtime      int       `json:"runtime"`
	ExitCode     int       `json:"exit_code"`
	Timeout      int       `json:"timeout"`
	ReceivedAt   time.Time `json:"received_at"`
}

// Policy is a policy as the device API reports it. Response is "pass",
// "fail" or "" (not run yet); failing_policies_count counts "fail".
type Policy struct {
	ID          uint   `json:"id"`
	Name        string `json:"name"`
	Query       string `json:"query"`
	Description string `json:"description"`
	Resolution  string `json:"resolution"`
	Platform    string `json:"platform"`
	Critical    bool   `json:"critical"`
	Response    string `json:"response"`
}

// DesktopInfo feeds GET /api/latest/fleet/device/{token}/desktop.
type DesktopInfo struct {
	OrgName                string `json:"org_name"`
	OrgLogoURL             string `json:"org_logo_url"`
	OrgLogoURLLight        string `json:"org_logo_url_light_background"`
	ContactURL             string `json:"contact_url"`
	SelfService            bool   `json:"self_service"`
	NeedsMDMMigration      bool   `json:"needs_mdm_migration"`
	RenewEnrollmentProfile bool   `json:"renew_enrollment_profile"`
	// TransparencyURL is where .../transparency redirects
	// (default https://fleetdm.com/transparency, as Fleet).
	TransparencyURL string `json:"transparency_url"`
}

// DeviceMapping is one PUT /api/fleet/orbit/device_mapping.
type DeviceMapping struct {
	HostID       uint   `json:"host_id"`
	HardwareUUID string `json:"hardware_uuid"`
	Email        string `json:"email"`
}

// DistributedResult is one host's answer to a distributed query.
type DistributedResult struct {
	HostID         uint                `json:"host_id"`
	HostIdentifier string              `json:"host_identifier"`
	Rows           []map[string]string `json:"rows"`
	Status         int                 `json:"status"`
	Message        string              `json:"message,omitempty"`
	Stats          json.RawMessage     `json:"stats,omitempty"`
	ReceivedAt     time.Time           `json:"received_at"`
}

// Carve is a file carve started by osqueryd.
type Carve struct {
	SessionID  string `json:"session_id"`
	HostID     uint   `json:"host_id"`
	CarveID    string `json:"carve_id"`
	RequestID  string `json:"request_id"`
	BlockCount int    `json:"block_count"`
	BlockSize  int    `json:"block_size"`
	CarveSize  int    `json:"carve_size"`
	// Blocks holds the decoded data by block_id.
	Blocks map[int][]byte `json:"blocks"`
}

// Complete reports whether every block has been received.
func (c Carve) Complete() bool { return len(c.Blocks) == c.BlockCount }

// Fault makes matching requests misbehave. Zero fields are off.
type Fault struct {
	// Method limits the fault to one HTTP method ("" = any).
	Method string `json:"method,omitempty"`
	// Status answers with this status and Fleet's error body for it.
	Status int `json:"status,omitempty"`
	// Delay waits this long before answering (or before proceeding normally
	// when no other effect is set).
	Delay time.Duration `json:"delay,omitempty"`
	// OversizeMiB answers 200 with this many MiB of valid JSON.
	OversizeMiB int `json:"oversize_mib,omitempty"`
	// Malformed answers 200 with truncated JSON.
	Malformed bool `json:"malformed,omitempty"`
	// Reset hijacks the connection and closes it with a TCP reset.
	Reset bool `json:"reset,omitempty"`
	// Times applies the fault this many times, then removes it (0 = unlimited).
	Times int `json:"times,omitempty"`
	// For removes the fault this long after SetFault (0 = until cleared),
	// measured with Config.Clock.
	For time.Duration `json:"for,omitempty"`
}

// Call is one recorded request.
type Call struct {
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	// Route is the matched route template ("" if none), e.g.
	// "/api/{version}/fleet/device/{token}/desktop".
	Route  string `json:"route"`
	Status int    `json:"status"`
	// Capabilities is the client's X-Fleet-Capabilities header.
	Capabilities string      `json:"capabilities"`
	Header       http.Header `json:"header"`
	// Body is the decoded JSON request body if it was an object.
	Body     map[string]any `json:"body,omitempty"`
	BytesIn  int64          `json:"bytes_in"`
	BytesOut int64          `json:"bytes_out"`
	// Fault is the fault applied to this call, if any.
	Fault *Fault `json:"fault,omitempty"`
}

// CallFilter selects recorded calls. Empty fields match anything.
type CallFilter struct {
	Method     string
	Path       string // exact path
	PathPrefix string
	Status     int
}

func (f CallFilter) match(c Call) bool {
	if f.Method != "" && f.Method != c.Method {
		return false
	}
	if f.Path != "" && f.Path != c.Path {
		return false
	}
	if f.PathPrefix != "" && (len(c.Path) < len(f.PathPrefix) || c.Path[:len(f.PathPrefix)] != f.PathPrefix) {
		return false
	}
	if f.Status != 0 && f.Status != c.Status {
		return false
	}
	return true
}

// SoftwareInstaller is a package the server can hand to hosts, with the
// scripts Fleet stores next to it (Fleet's software_installers row).
type SoftwareInstaller struct {
	// Filename is sent in Content-Disposition; Fleet's agent names the
	// downloaded file after it (".tar.gz"/".tgz" are extracted). It is sent
	// as given, so tests can check how the agent treats a hostile name.
	Filename          string `json:"filename"`
	Package           []byte `json:"package"`
	InstallScript     string `json:"install_script"`
	PostInstallScript string `json:"post_install_script"`
	UninstallScript   string `json:"uninstall_script"`
	PreInstallQuery   string `json:"pre_install_query"`
	SelfService       bool   `json:"self_service"`
}

// SoftwareInstallResult is one POST /api/fleet/orbit/software_install/result
// that the server accepted (Fleet's HostSoftwareInstallResultPayload, with
// the host as the server authenticated it). Nil pointers are steps the agent
// reported as not run.
type SoftwareInstallResult struct {
	HostID       uint   `json:"host_id"`
	HardwareUUID string `json:"hardware_uuid"`
	InstallUUID  string `json:"install_uuid"`
	InstallerID  uint   `json:"installer_id"`
	InstallSteps
	// Status is Fleet's status for this payload: "installed",
	// "failed_install" or "pending_install" (not terminal).
	Status     string    `json:"status"`
	ReceivedAt time.Time `json:"received_at"`
}

// InstallSteps are the step fields of Fleet's
// HostSoftwareInstallResultPayload. RetriesRemaining is newer Fleet's
// intermediate-attempt count; its JSON name is assumed.
type InstallSteps struct {
	PreInstallConditionOutput *string `json:"pre_install_condition_output"`
	InstallScriptExitCode     *int    `json:"install_script_exit_code"`
	InstallScriptOutput       *string `json:"install_script_output"`
	PostInstallScriptExitCode *int    `json:"post_install_script_exit_code"`
	PostInstallScriptOutput   *string `json:"post_install_script_output"`
	RetriesRemaining          uint    `json:"retries_remaining"`
}

// Notifications are the per-host flags of the Orbit config "notifications"
// object (Fleet's OrbitConfigNotifications without the two pending-id lists,
// which come from the host's queue). RunDiskEncryptionEscrow is one-shot, as
// in Fleet: it is cleared once a config answer carried it.
type Notifications struct {
	RenewEnrollmentProfile                  bool   `json:"renew_enrollment_profile,omitempty"`
	RotateDiskEncryptionKey                 bool   `json:"rotate_disk_encryption_key,omitempty"`
	NeedsMDMMigration                       bool   `json:"needs_mdm_migration,omitempty"`
	NeedsProgrammaticWindowsMDMEnrollment   bool   `json:"needs_programmatic_windows_mdm_enrollment,omitempty"`
	WindowsMDMDiscoveryEndpoint             string `json:"windows_mdm_discovery_endpoint,omitempty"`
	NeedsProgrammaticWindowsMDMUnenrollment bool   `json:"needs_programmatic_windows_mdm_unenrollment,omitempty"`
	EnforceBitLockerEncryption              bool   `json:"enforce_bitlocker_encryption,omitempty"`
	EnableBitLockerPINProtectorConfig       bool   `json:"enable_bitlocker_pin_protector_config,omitempty"`
	RunSetupExperience                      bool   `json:"run_setup_experience,omitempty"`
	RunDiskEncryptionEscrow                 bool   `json:"run_disk_encryption_escrow,omitempty"`
	// Extra fields are added to the notifications object verbatim: fields
	// Fleet does not send today, to test how the agent treats an unknown
	// notification. A name Fleet uses is refused.
	Extra map[string]json.RawMessage `json:"extra,omitempty"`
}

// QueueItem is one entry of a host's activity queue, in order.
type QueueItem struct {
	// Kind is "script" or "software_install".
	Kind string `json:"kind"`
	// ID is the script execution id or the software install id.
	ID string `json:"id"`
	// Active is true for the one item Fleet lists in the config.
	Active bool `json:"active"`
	// Done is true once a terminal result was recorded.
	Done bool `json:"done"`
}
