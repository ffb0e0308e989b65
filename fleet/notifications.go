package fleet

import (
	"bytes"
	"encoding/json"
	"runtime"
	"sort"
)

// What orbit does with each notification Fleet sends (server/fleet/orbit.go
// OrbitConfigNotifications). The two pending-id lists are acted on; every
// other one asks for MDM or disk-encryption work orbit does not do. Those
// are logged once per change of their value, so an admin who wonders why a
// host never escrows its key or enrolls in MDM finds the reason in orbit's
// log instead of nothing.
var notificationsKnown = map[string]string{
	"pending_script_execution_ids":   "",
	"pending_software_installer_ids": "",

	"renew_enrollment_profile":                    "macOS MDM enrollment profile renewal",
	"rotate_disk_encryption_key":                  "macOS FileVault key rotation (Escrow Buddy)",
	"needs_mdm_migration":                         "MDM migration to Fleet",
	"needs_programmatic_windows_mdm_enrollment":   "Windows MDM enrollment",
	"windows_mdm_discovery_endpoint":              "Windows MDM enrollment (discovery endpoint)",
	"needs_programmatic_windows_mdm_unenrollment": "Windows MDM unenrollment",
	"enforce_bitlocker_encryption":                "Windows BitLocker disk encryption",
	"enable_bitlocker_pin_protector_config":       "Windows BitLocker PIN protector",
	"run_setup_experience":                        "macOS setup experience",
	"run_disk_encryption_escrow":                  "Linux disk encryption key escrow (LUKS)",
}

// oneShotNotifications are cleared by Fleet as soon as it sent them
// (ClearPendingEscrow): each arrival is a new request, logged every time.
var oneShotNotifications = map[string]bool{"run_disk_encryption_escrow": true}

// nudgeConfig is the config's macOS Nudge settings, not a notification but
// the same kind of request; it is logged the same way.
const nudgeConfig = "nudge_config"

// notificationLog remembers the last value seen of each field, so a request
// is logged when it appears or changes, not on every poll.
type notificationLog struct {
	last map[string]string
}

// changes compares the fields of this config with the last one and returns
// them sorted, each with its new value ("" when cleared). Fields of value
// false, null, "", [] or {} count as not set.
func (n *notificationLog) changes(fields map[string]json.RawMessage) (set, cleared []string) {
	if n.last == nil {
		n.last = map[string]string{}
	}
	cur := map[string]string{}
	for k, v := range fields {
		if isSet(v) {
			cur[k] = string(compactJSON(v))
		}
	}
	for k, v := range cur {
		if n.last[k] != v || oneShotNotifications[k] {
			set = append(set, k)
		}
	}
	for k := range n.last {
		if _, ok := cur[k]; !ok {
			cleared = append(cleared, k)
		}
	}
	n.last = cur
	sort.Strings(set)
	sort.Strings(cleared)
	return set, cleared
}

func isSet(v json.RawMessage) bool {
	switch string(bytes.TrimSpace(v)) {
	case "", "null", "false", `""`, "[]", "{}", "0":
		return false
	}
	return true
}

func compactJSON(v json.RawMessage) []byte {
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return v
	}
	return b.Bytes()
}

// noteNotifications logs the notifications (and Nudge settings) of a config
// from the server that orbit does not act on: one line when one appears or
// changes, one when it is cleared, every arrival of a one-shot one, and the
// name of any field Fleet did not send when this was written.
func (a *Agent) noteNotifications(cfg *OrbitConfig) {
	fields := map[string]json.RawMessage{}
	for k, v := range cfg.Notifications.Raw {
		if what, known := notificationsKnown[k]; known && what == "" {
			continue // acted on
		}
		fields[k] = v
	}
	if len(cfg.NudgeConfig) > 0 {
		fields[nudgeConfig] = cfg.NudgeConfig
	}
	set, cleared := a.notifs.changes(fields)
	for _, k := range set {
		what, known := notificationsKnown[k]
		switch {
		case k == nudgeConfig:
			a.log.Warn().Str("field", k).Str("platform", runtime.GOOS).
				Msg("fleet sent Nudge settings (macOS OS update reminders), which orbit does not support; ignoring them")
		case !known:
			a.log.Warn().Str("notification", k).Msg("fleet sent a notification orbit does not know; ignoring it")
		case oneShotNotifications[k]:
			// Fleet will not send it again: this line is the only trace.
			a.log.Warn().Str("notification", k).Str("feature", what).Str("platform", runtime.GOOS).
				Msg("fleet requested a one-time action orbit does not support; it is not done, and Fleet does not ask again until it re-queues it")
		default:
			a.log.Warn().Str("notification", k).Str("feature", what).Str("platform", runtime.GOOS).
				Msg("fleet requested a feature orbit does not support on this platform; ignoring it")
		}
	}
	for _, k := range cleared {
		if oneShotNotifications[k] {
			continue // cleared by Fleet itself right after sending it
		}
		a.log.Info().Str("notification", k).Msg("fleet no longer sends this notification")
	}
}
