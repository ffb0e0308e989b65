package fleettest

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
)

// deviceHost authenticates the {token} path parameter; it writes the 401 itself.
func (s *Server) deviceHost(c *reqCtx) (OrbitHost, bool) {
	return s.authenticated(c, func() *OrbitHost { return s.tokenHost(c.params["token"]) })
}

func (s *Server) deviceAnonPing(c *reqCtx) {
	s.mu.Lock()
	caps := s.st.deviceCaps
	s.mu.Unlock()
	if caps != "" {
		c.w.Header().Set(CapabilitiesHeader, caps)
	}
	c.w.WriteHeader(http.StatusOK)
}

func (s *Server) devicePing(c *reqCtx) {
	if _, ok := s.deviceHost(c); !ok {
		return
	}
	s.deviceAnonPing(c)
}

// desktopResponse is Fleet's fleet.DesktopSummary on the wire.
type desktopResponse struct {
	FailingPolicies *uint `json:"failing_policies_count,omitempty"`
	SelfService     *bool `json:"self_service"`
	Notifications   struct {
		NeedsMDMMigration      bool `json:"needs_mdm_migration,omitempty"`
		RenewEnrollmentProfile bool `json:"renew_enrollment_profile,omitempty"`
	} `json:"notifications,omitempty"`
	Config struct {
		OrgInfo struct {
			OrgName                   string `json:"org_name"`
			OrgLogoURL                string `json:"org_logo_url"`
			OrgLogoURLLightBackground string `json:"org_logo_url_light_background"`
			ContactURL                string `json:"contact_url"`
		} `json:"org_info"`
		MDM struct {
			MacOSMigration struct {
				Mode string `json:"mode"`
			} `json:"macos_migration"`
		} `json:"mdm"`
	} `json:"config"`
}

func (s *Server) deviceDesktop(c *reqCtx) {
	if _, ok := s.deviceHost(c); !ok {
		return
	}
	var resp desktopResponse
	s.mu.Lock()
	d := s.st.desktop
	var failing uint
	for _, p := range s.st.policies {
		if p.Response == "fail" {
			failing++
		}
	}
	s.mu.Unlock()
	resp.FailingPolicies = &failing
	self := d.SelfService
	resp.SelfService = &self
	resp.Notifications.NeedsMDMMigration = d.NeedsMDMMigration
	resp.Notifications.RenewEnrollmentProfile = d.RenewEnrollmentProfile
	resp.Config.OrgInfo.OrgName = d.OrgName
	resp.Config.OrgInfo.OrgLogoURL = d.OrgLogoURL
	resp.Config.OrgInfo.OrgLogoURLLightBackground = d.OrgLogoURLLight
	resp.Config.OrgInfo.ContactURL = d.ContactURL
	writeJSON(c.w, http.StatusOK, resp)
}

func (s *Server) devicePolicies(c *reqCtx) {
	if _, ok := s.deviceHost(c); !ok {
		return
	}
	s.mu.Lock()
	ps := append([]Policy{}, s.st.policies...)
	s.mu.Unlock()
	writeJSON(c.w, http.StatusOK, map[string]any{"policies": ps})
}

func (s *Server) deviceTransparency(c *reqCtx) {
	if _, ok := s.deviceHost(c); !ok {
		return
	}
	s.mu.Lock()
	u := s.st.desktop.TransparencyURL
	s.mu.Unlock()
	// Fleet sets Location and the status only, with no body.
	c.w.Header().Set("Location", u)
	c.w.WriteHeader(http.StatusTemporaryRedirect)
}

func (s *Server) deviceDebugErrors(c *reqCtx) {
	if _, ok := s.deviceHost(c); !ok {
		return
	}
	var v map[string]any
	if !decode(c, &v, false) {
		return
	}
	s.mu.Lock()
	s.st.fleetdErrs = append(s.st.fleetdErrs, json.RawMessage(append([]byte(nil), c.body...)))
	s.mu.Unlock()
	writeJSON(c.w, http.StatusOK, struct{}{})
}

func (s *Server) pageMyDevice(c *reqCtx)    { s.page(c, "My device") }
func (s *Server) pageSelfService(c *reqCtx) { s.page(c, "Self-service") }

func (s *Server) page(c *reqCtx, title string) {
	s.mu.Lock()
	h := s.tokenHost(c.params["token"])
	var hostname string
	if h != nil {
		hostname = h.Hostname
	}
	s.mu.Unlock()
	c.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if h == nil {
		c.w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(c.w, "<!DOCTYPE html><html><head><title>Fleet</title></head><body><h1>This device is not recognized</h1></body></html>\n")
		return
	}
	c.w.WriteHeader(http.StatusOK)
	fmt.Fprintf(c.w, "<!DOCTYPE html><html><head><title>%s | Fleet</title></head><body><h1>%s</h1><p id=\"hostname\">%s</p></body></html>\n",
		html.EscapeString(title), html.EscapeString(title), html.EscapeString(hostname))
}
