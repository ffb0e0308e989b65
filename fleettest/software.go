package fleettest

import (
	"fmt"
	"net/http"
	"strconv"
)

// softwareInstallDetails is Fleet's fleet.SoftwareInstallDetails on the wire
// (the fields every Fleet since 4.57 sends; newer ones add a CDN URL and a
// retry count, whose JSON names the Fleet sources we read do not show).
type softwareInstallDetails struct {
	ExecutionID         string `json:"install_id"`
	InstallerID         uint   `json:"installer_id"`
	PreInstallCondition string `json:"pre_install_condition"`
	InstallScript       string `json:"install_script"`
	UninstallScript     string `json:"uninstall_script"`
	PostInstallScript   string `json:"post_install_script"`
	SelfService         bool   `json:"self_service"`
}

func (s *Server) orbitSoftwareInstallDetails(c *reqCtx) {
	var req struct {
		OrbitNodeKey string `json:"orbit_node_key"`
		// OrbotNodeKey is Fleet's legacy typo, still read for orbit <= 1.38.
		OrbotNodeKey string `json:"orbot_node_key"`
		InstallUUID  string `json:"install_uuid"`
	}
	if !decode(c, &req, s.strict()) {
		return
	}
	key := req.OrbitNodeKey
	if key == "" {
		key = req.OrbotNodeKey
	}
	h, ok := s.orbitHost(c, key)
	if !ok {
		return
	}
	s.mu.Lock()
	a, other := s.st.lookup(h.HardwareUUID, req.InstallUUID, kindInstall)
	if a == nil {
		s.mu.Unlock()
		s.itemNotFound(c, other, "SoftwareInstallerDetails", req.InstallUUID)
		return
	}
	in := s.st.installers[a.installerID]
	resp := softwareInstallDetails{
		ExecutionID: a.id, InstallerID: a.installerID,
		PreInstallCondition: in.PreInstallQuery, InstallScript: in.InstallScript,
		UninstallScript: in.UninstallScript, PostInstallScript: in.PostInstallScript,
		SelfService: in.SelfService,
	}
	s.mu.Unlock()
	s.orbitOK(c.w, resp)
}

func (s *Server) orbitSoftwarePackage(c *reqCtx) {
	var req struct {
		orbitAuth
		InstallerID uint `json:"installer_id"`
	}
	h, ok := s.orbitRequest(c, &req)
	if !ok {
		return
	}
	if c.r.URL.Query().Get("alt") != "media" {
		s.orbitFail(c.w, http.StatusBadRequest, "Bad request", "only alt=media is supported")
		return
	}
	s.mu.Lock()
	// Fleet's ValidateOrbitSoftwareInstallerAccess: the host must have an
	// activated, unfinished install of this installer.
	var in *SoftwareInstaller
	if q := s.st.queues[h.HardwareUUID]; q != nil {
		if a := q.active(); a != nil && a.kind == kindInstall && a.installerID == req.InstallerID {
			in = s.st.installers[req.InstallerID]
		}
	}
	s.mu.Unlock()
	if in == nil {
		s.setCaps(c.w)
		writeFleetErrorNoUUID(c.w, http.StatusForbidden, "Forbidden", "Host doesn't have access to this installer")
		return
	}
	s.setCaps(c.w)
	hdr := c.w.Header()
	hdr.Set("Content-Length", strconv.Itoa(len(in.Package)))
	hdr.Set("Content-Type", "application/octet-stream")
	hdr.Set("Content-Disposition", fmt.Sprintf(`attachment;filename="%s"`, in.Filename))
	c.w.WriteHeader(http.StatusOK)
	// Stream in chunks so a client that stops reading is noticed early.
	const chunk = 64 << 10
	for off := 0; off < len(in.Package); off += chunk {
		end := min(off+chunk, len(in.Package))
		if _, err := c.w.Write(in.Package[off:end]); err != nil {
			return // the client went away; Fleet only logs this too
		}
	}
}

// installStatus is Fleet's HostSoftwareInstallResultPayload.Status().
func installStatus(r *SoftwareInstallResult) string {
	switch {
	case r.PostInstallScriptExitCode != nil && *r.PostInstallScriptExitCode == 0:
		return "installed"
	case r.PostInstallScriptExitCode != nil:
		return "failed_install"
	case r.InstallScriptExitCode != nil && *r.InstallScriptExitCode == 0:
		return "installed"
	case r.InstallScriptExitCode != nil:
		return "failed_install"
	case r.PreInstallConditionOutput != nil && *r.PreInstallConditionOutput == "":
		return "failed_install"
	}
	return "pending_install"
}

func truncatePtr(p *string) *string {
	if p == nil {
		return nil
	}
	t := truncateOutput(*p)
	return &t
}

func (s *Server) orbitSoftwareInstallResult(c *reqCtx) {
	var req struct {
		orbitAuth
		HostID      uint   `json:"host_id"`
		InstallUUID string `json:"install_uuid"`
		InstallSteps
	}
	h, ok := s.orbitRequest(c, &req)
	if !ok {
		return
	}
	s.mu.Lock()
	a, _ := s.st.lookup(h.HardwareUUID, req.InstallUUID, kindInstall)
	// Fleet updates host_software_installs WHERE execution_id AND host_id:
	// an item that is not this host's, or not activated yet, has no row.
	activated := a != nil && (a.done || s.st.queues[h.HardwareUUID].active() == a)
	if !activated {
		s.mu.Unlock()
		s.itemNotFound(c, false, "HostSoftwareInstall", req.InstallUUID)
		return
	}
	steps := req.InstallSteps
	steps.PreInstallConditionOutput = truncatePtr(steps.PreInstallConditionOutput)
	steps.InstallScriptOutput = truncatePtr(steps.InstallScriptOutput)
	steps.PostInstallScriptOutput = truncatePtr(steps.PostInstallScriptOutput)
	r := SoftwareInstallResult{
		HostID: h.ID, HardwareUUID: h.HardwareUUID, InstallUUID: a.id, InstallerID: a.installerID,
		InstallSteps: steps, ReceivedAt: s.now(),
	}
	r.Status = installStatus(&r)
	s.st.installResults = append(s.st.installResults, r)
	// A terminal result completes the item and activates the next one; a
	// pending status or an attempt with retries left keeps it active. A
	// repeated result overwrites the row, as Fleet's UPDATE does.
	if r.Status != "pending_install" && r.RetriesRemaining == 0 {
		a.installResult = &r
		a.done = true
	}
	s.mu.Unlock()
	s.setCaps(c.w)
	c.w.WriteHeader(http.StatusNoContent)
}
