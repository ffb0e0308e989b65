package fleet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/orbitagent/orbit/component"
	"github.com/orbitagent/orbit/internal/safefile"
)

// OrbitConfig is the answer of POST /api/fleet/orbit/config. Only the fields
// the agent acts on are typed; unknown fields are ignored because Fleet adds
// fields every release.
type OrbitConfig struct {
	// Flags is command_line_startup_flags: an object of osquery flag names
	// (without dashes) to string, boolean or number. Absent or null means the
	// server manages no flags; see ParseFlags.
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
}

// UpdateChannels are the TUF channels Fleet wants for each component.
type UpdateChannels struct {
	Orbit    string `json:"orbit"`
	Osqueryd string `json:"osqueryd"`
	Desktop  string `json:"desktop"`
}

// Notifications are the server's requests to the agent.
type Notifications struct {
	PendingScriptExecutionIDs   []string `json:"pending_script_execution_ids,omitempty"`
	PendingSoftwareInstallerIDs []string `json:"pending_software_installer_ids,omitempty"`
	RenewEnrollmentProfile      bool     `json:"renew_enrollment_profile,omitempty"`
	RotateDiskEncryptionKey     bool     `json:"rotate_disk_encryption_key,omitempty"`
	NeedsMDMMigration           bool     `json:"needs_mdm_migration,omitempty"`
	RunSetupExperience          bool     `json:"run_setup_experience,omitempty"`
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
// removed, the list capped; channels with unsafe characters are dropped.
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
	if t := bytes.TrimSpace(cfg.Flags); bytes.Equal(t, []byte("null")) {
		cfg.Flags = nil
	}
	ids := cfg.Notifications.PendingScriptExecutionIDs
	cfg.Notifications.PendingScriptExecutionIDs = nil
	seen := map[string]bool{}
	for _, id := range ids {
		if !validID(id) || seen[id] {
			continue
		}
		seen[id] = true
		cfg.Notifications.PendingScriptExecutionIDs = append(cfg.Notifications.PendingScriptExecutionIDs, id)
		if len(seen) == maxPendingScripts {
			break
		}
	}
	if c := cfg.UpdateChannels; c != nil {
		if !validChannel(c.Orbit) || !validChannel(c.Osqueryd) || !validChannel(c.Desktop) {
			cfg.UpdateChannels = nil
		}
	}
	return &cfg, nil
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

// encodeConfigCache renders the cache file content.
func encodeConfigCache(cfg *OrbitConfig) ([]byte, error) {
	data, err := json.MarshalIndent(cacheOf(cfg), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode Fleet config cache: %w", err)
	}
	return append(data, '\n'), nil
}

// saveConfigCache writes the cache atomically, 0600: flags may carry values
// an administrator would not want readable by every user.
func saveConfigCache(path string, data []byte) error {
	if err := safefile.WriteAtomic(path, data, 0o600); err != nil {
		return fmt.Errorf("write Fleet config cache: %w", err)
	}
	return nil
}
