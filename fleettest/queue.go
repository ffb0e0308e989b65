package fleettest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"
)

// Fleet's unified queue (server/datastore/mysql/activities.go,
// activateNextUpcomingActivity): a host's scripts and software installs run
// one at a time in the order they were queued, and only the item at the head
// of the queue is "activated", that is listed in the config. A terminal
// result completes it and activates the next one.

const (
	kindScript  = "script"
	kindInstall = "software_install"
)

// activity is one item of a host's queue.
type activity struct {
	kind  string
	id    string // execution id (script) or install id
	owner string // hardware UUID of the host the item belongs to
	seq   uint64 // queue order
	done  bool

	contents     string // script
	scriptResult *ScriptResult

	installerID uint // software install
	// installResult is the terminal result; intermediate attempts are only
	// in state.installResults.
	installResult *SoftwareInstallResult
}

// hostQueue holds a host's items in queue order, finished ones included.
type hostQueue struct {
	items []*activity
}

// active returns the item Fleet has activated: the oldest unfinished one.
func (q *hostQueue) active() *activity {
	for _, a := range q.items {
		if !a.done {
			return a
		}
	}
	return nil
}

// scriptTemplate is a script queued with AddScript for every host.
type scriptTemplate struct {
	execID   string
	contents string
	seq      uint64
}

// euaState is the end-user-authentication switch (Fleet's
// mdm.macos_setup.enable_end_user_authentication per team, and the server's
// mdm.allow_orbit_end_user_auth_bypass).
type euaState struct {
	all       bool            // every enroll secret
	secrets   map[string]bool // enroll secret ("team") -> required
	bypass    bool
	completed map[string]bool // hardware UUID -> the end user signed in
}

// fleetNotificationNames are the notification fields Fleet sends; Extra
// fields may not reuse them.
var fleetNotificationNames = map[string]bool{
	"renew_enrollment_profile": true, "rotate_disk_encryption_key": true, "needs_mdm_migration": true,
	"needs_programmatic_windows_mdm_enrollment": true, "windows_mdm_discovery_endpoint": true,
	"needs_programmatic_windows_mdm_unenrollment": true, "pending_script_execution_ids": true,
	"enforce_bitlocker_encryption": true, "enable_bitlocker_pin_protector_config": true,
	"pending_software_installer_ids": true, "run_setup_experience": true, "run_disk_encryption_escrow": true,
}

// queue returns (creating it) the queue of a hardware UUID; s.mu held.
func (st *state) queue(owner string) *hostQueue {
	q := st.queues[owner]
	if q == nil {
		q = &hostQueue{}
		st.queues[owner] = q
	}
	return q
}

// enqueue appends a to its owner's queue, keeping queue order; s.mu held.
func (st *state) enqueue(a *activity) {
	if a.seq == 0 {
		st.nextSeq++
		a.seq = st.nextSeq
	}
	q := st.queue(a.owner)
	q.items = append(q.items, a)
	sort.SliceStable(q.items, func(i, j int) bool { return q.items[i].seq < q.items[j].seq })
	if st.activities[a.id] == nil {
		st.activities[a.id] = map[string]*activity{}
	}
	st.activities[a.id][a.owner] = a
}

// lookup finds a host's item by id. otherHost reports that the id exists
// but belongs to another host (Fleet answers those with a bare "not found").
func (st *state) lookup(owner, id, kind string) (a *activity, otherHost bool) {
	for o, it := range st.activities[id] {
		if it.kind != kind {
			continue
		}
		if o == owner {
			return it, false
		}
		otherHost = true
	}
	return nil, otherHost
}

// itemNotFound writes Fleet's 404 for an id lookup failed: a bare "not
// found" (the service's notFoundError) when the id is another host's, the
// datastore's message for an unknown id.
func (s *Server) itemNotFound(c *reqCtx, otherHost bool, resource, id string) {
	if otherHost {
		s.orbitNotFound(c.w, "not found")
		return
	}
	s.orbitNotFound(c.w, resource+" "+id+" was not found in the datastore")
}

// addScriptTemplateCopies queues every AddScript script for a host that has
// just enrolled for the first time; s.mu held.
func (st *state) addScriptTemplateCopies(owner string) {
	for _, t := range st.scripts {
		if a, _ := st.lookup(owner, t.execID, kindScript); a != nil {
			continue
		}
		st.enqueue(&activity{kind: kindScript, id: t.execID, owner: owner, seq: t.seq, contents: t.contents})
	}
}

// AddScript queues a script for every host, those enrolled now and those
// that enroll later, with the same execution id on each (use QueueScript for
// one host and a Fleet-style unique id). Each host's copy takes its turn in
// that host's queue. Adding an id again replaces its contents and, where a
// host already answered it, clears the result and queues it again at the end.
func (s *Server) AddScript(execID, contents string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.st
	var tmpl *scriptTemplate
	for _, t := range st.scripts {
		if t.execID == execID {
			tmpl = t
		}
	}
	if tmpl == nil {
		st.nextSeq++
		tmpl = &scriptTemplate{execID: execID, seq: st.nextSeq}
		st.scripts = append(st.scripts, tmpl)
	}
	tmpl.contents = contents
	for _, h := range st.orbitHosts {
		a, _ := st.lookup(h.HardwareUUID, execID, kindScript)
		if a == nil {
			st.enqueue(&activity{kind: kindScript, id: execID, owner: h.HardwareUUID, seq: tmpl.seq, contents: contents})
			continue
		}
		a.contents = contents
		if a.done {
			a.done, a.scriptResult = false, nil
			st.nextSeq++
			a.seq = st.nextSeq
			q := st.queue(a.owner)
			sort.SliceStable(q.items, func(i, j int) bool { return q.items[i].seq < q.items[j].seq })
		}
	}
}

// QueueScript queues a script for one host (by hardware UUID; the host may
// enroll later) and returns its new execution id.
func (s *Server) QueueScript(hardwareUUID, contents string) (string, error) {
	if hardwareUUID == "" {
		return "", errors.New("fleettest: QueueScript needs the host's hardware UUID")
	}
	id := newUUID()
	s.mu.Lock()
	s.st.enqueue(&activity{kind: kindScript, id: id, owner: hardwareUUID, contents: contents})
	s.mu.Unlock()
	return id, nil
}

// ScriptResults returns the script results received, oldest first.
func (s *Server) ScriptResults() []ScriptResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ScriptResult
	for _, owners := range s.st.activities {
		for _, a := range owners {
			if a.kind == kindScript && a.scriptResult != nil {
				out = append(out, *a.scriptResult)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ReceivedAt.Before(out[j].ReceivedAt) })
	return out
}

// AddSoftwareInstaller stores an installer and returns its installer id.
func (s *Server) AddSoftwareInstaller(in SoftwareInstaller) (uint, error) {
	if in.Filename == "" {
		return 0, errors.New("fleettest: a software installer needs a filename")
	}
	if strings.IndexFunc(in.Filename, unicode.IsControl) >= 0 {
		return 0, fmt.Errorf("fleettest: installer filename %q has control characters, which no HTTP header can carry", in.Filename)
	}
	in.Package = append([]byte(nil), in.Package...)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.nextInstallerID++
	id := s.st.nextInstallerID
	s.st.installers[id] = &in
	return id, nil
}

// QueueSoftwareInstall queues an install of an installer for one host (by
// hardware UUID; the host may enroll later) and returns the install id
// (Fleet's install_uuid / execution id).
func (s *Server) QueueSoftwareInstall(hardwareUUID string, installerID uint) (string, error) {
	if hardwareUUID == "" {
		return "", errors.New("fleettest: QueueSoftwareInstall needs the host's hardware UUID")
	}
	id := newUUID()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.installers[installerID] == nil {
		return "", fmt.Errorf("fleettest: no software installer %d: add it with AddSoftwareInstaller first", installerID)
	}
	s.st.enqueue(&activity{kind: kindInstall, id: id, owner: hardwareUUID, installerID: installerID})
	return id, nil
}

// SoftwareInstallResults returns every install result the server accepted,
// intermediate attempts and repeats included, oldest first.
func (s *Server) SoftwareInstallResults() []SoftwareInstallResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SoftwareInstallResult, len(s.st.installResults))
	copy(out, s.st.installResults)
	return out
}

// Queue returns a host's activity queue in order (finished items included).
func (s *Server) Queue(hardwareUUID string) []QueueItem {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.st.queues[hardwareUUID]
	if q == nil {
		return nil
	}
	act := q.active()
	out := make([]QueueItem, 0, len(q.items))
	for _, a := range q.items {
		out = append(out, QueueItem{Kind: a.kind, ID: a.id, Active: a == act, Done: a.done})
	}
	return out
}

// SetNotifications sets a host's config notifications (by hardware UUID; the
// host may enroll later), replacing what was set before.
func (s *Server) SetNotifications(hardwareUUID string, n Notifications) error {
	if hardwareUUID == "" {
		return errors.New("fleettest: SetNotifications needs the host's hardware UUID")
	}
	extra := make(map[string]json.RawMessage, len(n.Extra))
	for k, v := range n.Extra {
		if fleetNotificationNames[k] {
			return fmt.Errorf("fleettest: extra notification %q is a field Fleet sends: set it with its own field", k)
		}
		if !json.Valid(v) {
			return fmt.Errorf("fleettest: extra notification %q is not valid JSON", k)
		}
		extra[k] = append(json.RawMessage(nil), v...)
	}
	n.Extra = extra
	s.mu.Lock()
	s.st.notifs[hardwareUUID] = &n
	s.mu.Unlock()
	return nil
}

// RequireEndUserAuth makes enrollment with enrollSecret ("" for every
// secret, as a global setting) answer END_USER_AUTH_REQUIRED to hosts that
// are new and whose end user has not signed in (see CompleteEndUserAuth).
func (s *Server) RequireEndUserAuth(enrollSecret string, required bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if enrollSecret == "" {
		s.st.eua.all = required
		return
	}
	s.st.eua.secrets[enrollSecret] = required
}

// AllowEndUserAuthBypass mirrors Fleet's mdm.allow_orbit_end_user_auth_bypass:
// agents that do not announce end_user_auth may enroll without sign-in.
func (s *Server) AllowEndUserAuthBypass(allow bool) {
	s.mu.Lock()
	s.st.eua.bypass = allow
	s.mu.Unlock()
}

// CompleteEndUserAuth records that the host's end user signed in (Fleet links
// an IdP account to the hardware UUID), so its next enroll succeeds.
func (s *Server) CompleteEndUserAuth(hardwareUUID string) {
	s.mu.Lock()
	s.st.eua.completed[hardwareUUID] = true
	s.mu.Unlock()
}

// euaBlocks reports whether an enroll must be answered END_USER_AUTH_REQUIRED;
// s.mu held.
func (st *state) euaBlocks(secret, hardwareUUID string, clientCaps string, knownHost bool) bool {
	if !st.eua.all && !st.eua.secrets[secret] {
		return false
	}
	if knownHost || st.eua.completed[hardwareUUID] {
		return false
	}
	if st.eua.bypass && !hasCapability(clientCaps, "end_user_auth") {
		return false
	}
	return true
}

func hasCapability(csv, name string) bool {
	for _, c := range strings.Split(csv, ",") {
		if strings.TrimSpace(c) == name {
			return true
		}
	}
	return false
}
