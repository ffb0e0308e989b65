package agent

import (
	"os"

	"github.com/rs/zerolog"
)

// serviceHooks are what secureService calls: the service manager's
// recovery actions and a secret file's protection (injected for tests).
type serviceHooks struct {
	recovery func(service string) error
	protect  func(path string) error
}

// secureService does at each start under the Windows SCM what an msi built
// with wixl cannot do at install: it sets the service's restart-on-failure
// recovery actions (wixl has no util:ServiceConfig), and it puts the
// owner-only ACL back on the enroll secret and the node key (the
// installer's ACL may be missing: an older Windows Installer, a copy by
// hand; and files written under Program Files inherit read access for
// Users). Failures are logged: orbit still runs, less protected.
func secureService(cfg Config, service string, log zerolog.Logger, h serviceHooks) {
	if err := h.recovery(service); err != nil {
		log.Warn().Err(err).Str("service", service).Msg("cannot set the service's recovery actions; the service manager will not restart orbit after a crash")
	}
	for _, p := range []string{cfg.EnrollSecretPath, cfg.Layout.NodeKey()} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if err := h.protect(p); err != nil {
			log.Warn().Err(err).Str("path", p).Msg("cannot restrict a secret file to SYSTEM and Administrators")
		}
	}
}
