package fleet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"

	"github.com/orbitagent/orbit/component"
	"github.com/orbitagent/orbit/internal/safefile"
)

// OrbitConfig is the answer of POST /api/fleet/orbit/config. Only the fields
// the agent acts on are typed; unknown fields are ignored because Fleet adds
// fields every release.
type OrbitConfig struct {
	// Flags is command_line_startup_flags: an object of osquery flag names
	// (without dashes) to string, boolean or number. Absent means the server
	// manages no flags; null and {} empty the flagfile, as Fleet's agent
	// does (see osquery.ParseServerFlags).
	Flags json.RawMessage `json:"command_line_startup_flags,omitempty"`
	// Extensions is kept raw: extensions are the updater's business.
	Extensions json.RawMessage `json:"extensions,omitempty"`
	// NudgeConfig is kept raw (macOS only, not acted on).
	NudgeConfig json.RawMessage `json:"nudge_config,omitempty"`
	// UpdateChannels is nil when the server does not set channels.
	UpdateChannels *UpdateChannels `json:"update_channels,omitempty"`
	// ScriptExecutionTimeout is in seconds; 0 means the agent's default.
	ScriptExecutionTimeout int           `json:"script_execution_timeout,omitempty"`
	Notifications          Notifications `json:"notifications"`
	// DebugLogging is Fleet's per-host (or per-team) debug logging: true
	// while a debug period runs, absent otherwise; see applyDebugLogging.
	// Not cached: it applies from live answers only.
	DebugLogging *bool `json:"debug_logging,omitempty"`
}

// UpdateChannels are the TUF channels Fleet wants for each component.
type UpdateChannels struct {
	Orbit    string `json:"orbit"`
	Osqueryd string `json:"osqueryd"`
	Desktop  string `json:"desktop"`
}

// Notifications are the server's requests to the agent (Fleet's
// fleet.OrbitConfigNotifications). The agent acts on the two pending-id
// lists; the others are MDM and disk-encryption work orbit does not do,
// decoded so that each is logged (see notifications.go) instead of
// silently dropped.
type Notifications struct {
	PendingScriptExecutionIDs   []string `json:"pending_script_execution_ids,omitempty"`
	PendingSoftwareInstallerIDs []string `json:"pending_software_installer_ids,omitempty"`

	RenewEnrollmentProfile                  bool   `json:"renew_enrollment_profile,omitempty"`
	RotateDiskEncryptionKey                 bool   `json:"rotate_disk_encryption_key,omitempty"`
	NeedsMDMMigration                       bool   `json:"needs_mdm_migration,omitempty"`
	NeedsProgrammaticWindowsMDMEnrollment   bool   `json:"needs_programmatic_windows_mdm_enrollment,omitempty"`
	WindowsMDMDiscoveryEndpoint             string `json:"windows_mdm_discovery_endpoint,omitempty"`
	NeedsProgrammaticWindowsMDMUnenrollment bool   `json:"needs_programmatic_windows_mdm_unenrollment,omitempty"`
	EnforceBitLockerEncryption              bool   `json:"enforce_bitlocker_encryption,omitempty"`
	EnableBitLockerPINProtectorConfig       bool   `json:"enable_bitlocker_pin_protector_config,omitempty"`
	RunSetupExperience                      bool   `json:"run_setup_experience,omitempty"`
	// RunDiskEncryptionEscrow is one-shot: Fleet clears it as soon as it
	// has sent it (ClearPendingEscrow).
	RunDiskEncryptionEscrow bool `json:"run_disk_encryption_escrow,omitempty"`

	// Raw holds every field as sent, known or not, so fields Fleet adds
	// later are noticed too.
	Raw map[string]json.RawMessage `json:"-"`
}

// Limits on what a config may ask for, so a broken or hostile server cannot
// make the agent queue unbounded work.
const (
	maxPendingScripts = 100
	maxExecutionIDLen = 128
	// maxScriptTimeout caps script_execution_timeout (seconds): a day is
	// far above Fleet's own limit and keeps the duration from overflowing.
	maxScriptTimeout = 24 * 60 * 60
)

// DecodeConfig parses a config response. It rejects what is not JSON or has
// fields of the wrong type, and cleans what it keeps: execution IDs that are
// empty, overlong or contain control characters are dropped, duplicates
// removed, the lists (scripts and software installs) capped; channels with
// unsafe characters are dropped.
func DecodeConfig(data []byte) (*OrbitConfig, error) {
	var cfg OrbitConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("decode Fleet config: %w", err)
	}
	if cfg.ScriptExecutionTimeout < 0 {
		cfg.ScriptExecutionTimeout = 0
	}
	if cfg.ScriptExecutionTimeout > maxScriptTimeout {
		cfg.ScriptExecutionTimeout = maxScriptTimeout
	}
	cfg.Notifications.PendingScriptExecutionIDs = cleanIDs(cfg.Notifications.PendingScriptExecutionIDs)
	cfg.Notifications.PendingSoftwareInstallerIDs = cleanIDs(cfg.Notifications.PendingSoftwareInstallerIDs)
	var raw struct {
		Notifications map[string]json.RawMessage `json:"notifications"`
	}
	if err := json.Unmarshal(data, &raw); err == nil {
		cfg.Notifications.Raw = raw.Notifications
	}
	if c := cfg.UpdateChannels; c != nil {
		if !validChannel(c.Orbit) || !validChannel(c.Osqueryd) || !validChannel(c.Desktop) {
			cfg.UpdateChannels = nil
		}
	}
	return &cfg, nil
}

// cleanIDs drops invalid and repeated ids and keeps at most
// maxPendingScripts (Fleet lists one queued item at a time).
func cleanIDs(ids []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, id := range ids {
		if !validID(id) || seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, id)
		if len(out) == maxPendingScripts {
			break
		}
	}
	return out
}

func validID(id string) bool {
	if id == "" || len(id) > maxExecutionIDLen {
		return false
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// validChannel accepts "" (component not managed) and what
// component.ValidateChannel accepts: channels become path elements under
// bin/.
func validChannel(c string) bool {
	return c == "" || component.ValidateChannel(c) == nil
}

// cachedConfig is what survives a restart: the parts of the last good config
// that configure the host. Notifications are not cached: pending scripts must
// come from the live server, never be replayed.
type cachedConfig struct {
	Flags                  json.RawMessage `json:"command_line_startup_flags,omitempty"`
	Extensions             json.RawMessage `json:"extensions,omitempty"`
	UpdateChannels         *UpdateChannels `json:"update_channels,omitempty"`
	ScriptExecutionTimeout int             `json:"script_execution_timeout,omitempty"`
}

func cacheOf(cfg *OrbitConfig) cachedConfig {
	return cachedConfig{
		Flags:                  cfg.Flags,
		Extensions:             cfg.Extensions,
		UpdateChannels:         cfg.UpdateChannels,
		ScriptExecutionTimeout: cfg.ScriptExecutionTimeout,
	}
}

func (c cachedConfig) config() *OrbitConfig {
	return &OrbitConfig{
		Flags:                  c.Flags,
		Extensions:             c.Extensions,
		UpdateChannels:         c.UpdateChannels,
		ScriptExecutionTimeout: c.ScriptExecutionTimeout,
	}
}

// loadConfigCache reads the cached config; a missing file is (nil, nil).
func loadConfigCache(path string) (*OrbitConfig, error) {
	data, err := safefile.ReadLimited(path, safefile.MaxConfig)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read Fleet config cache: %w", err)
	}
	cfg, err := DecodeConfig(data)
	if err != nil {
		return nil, fmt.Errorf("Fleet config cache %s is corrupt (it is rewritten on the next good config): %w", path, err)
	}
	return cacheOf(cfg).config(), nil
}

// encodeConfigCache renders the cache file content. Compact, not indented:
// indenting the server's raw values grows with the square of their nesting
// (an 18 KB answer of nested arrays became a 162 MB file).
// The server's raw values are kept byte for byte (no HTML escaping).
func encodeConfigCache(cfg *OrbitConfig) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(cacheOf(cfg)); err != nil {
		return nil, fmt.Errorf("encode Fleet config cache: %w", err)
	}
	return b.Bytes(), nil
}

// saveConfigCache writes the cache atomically, 0600: flags may carry values
// an administrator would not want readable by every user.
func saveConfigCache(path string, data []byte) error {
	if err := safefile.WriteAtomic(path, data, 0o600); err != nil {
		return fmt.Errorf("write Fleet config cache: %w", err)
	}
	return nil
}

// Extension is one osquery extension Fleet's config asks this host to run.
type Extension struct {
	Name     string
	Platform string // linux, linux-arm64, macos, windows, windows-arm64
	Channel  string
}

// extensionInfo is one entry of the config's extensions object.
type extensionInfo struct {
	Platform string `json:"platform"`
	Channel  string `json:"channel"`
	// Labels are filtered by the server (Fleet Premium), which sends only
	// the extensions whose labels the host has, without them; Fleet's
	// agent does not look at them and neither do we.
	Labels []string `json:"labels,omitempty"`
}

// maxExtensions bounds the extensions kept from one config.
const maxExtensions = 100

// ParseExtensions reads the config's extensions object (name -> platform,
// channel, labels) and keeps, sorted by name, those for platform, as
// Fleet's agent does. Absent, null and {} all mean none. Entries whose
// name or channel could not be a path element under bin/ are refused
// with a reason (their name is logged quoted); entries for other
// platforms are left out silently. An error means the object is not one:
// the caller keeps what it has.
func ParseExtensions(raw json.RawMessage, platform string) ([]Extension, []DroppedExtension, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, nil, nil
	}
	var m map[string]extensionInfo
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, nil, fmt.Errorf("extensions in the Fleet config are not an object of name to platform and channel: %w", err)
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []Extension
	var dropped []DroppedExtension
	for _, n := range names {
		info := m[n]
		if info.Platform != platform {
			continue
		}
		if err := component.Extension(n).Validate(); err != nil {
			dropped = append(dropped, DroppedExtension{Name: strconv.QuoteToASCII(shorten(n, 64)), Reason: err.Error()})
			continue
		}
		if err := component.ValidateChannel(info.Channel); err != nil {
			dropped = append(dropped, DroppedExtension{Name: n, Reason: "channel " + err.Error()})
			continue
		}
		if len(out) == maxExtensions {
			dropped = append(dropped, DroppedExtension{Name: n, Reason: fmt.Sprintf("more than %d extensions", maxExtensions)})
			continue
		}
		out = append(out, Extension{Name: n, Platform: info.Platform, Channel: info.Channel})
	}
	return out, dropped, nil
}

// DroppedExtension is an extension of the config left out, and why.
type DroppedExtension struct {
	Name   string
	Reason string
}
