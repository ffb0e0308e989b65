package fleet

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"context"
)

// CapabilityEndUserEmail is the server capability that says Fleet takes
// the end user's email from the agent (PUT /api/fleet/orbit/device_mapping).
const CapabilityEndUserEmail = "end_user_email"

// ValidateEndUserEmail is the rule for --end-user-email: empty (none), or
// one address without spaces or control characters, as Fleet's packages
// pass it.
func ValidateEndUserEmail(email string) error {
	if email == "" {
		return nil
	}
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || domain == "" || len(email) > 254 ||
		strings.IndexFunc(email, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return errors.New("--end-user-email must be one email address, like jane@example.com")
	}
	return nil
}

// syncDeviceMapping sends the end-user email once per node key (so again
// after a re-enroll), when the server advertises end_user_email, as Fleet's
// agent does at start. A failure is retried on the next poll.
func (a *Agent) syncDeviceMapping(ctx context.Context) {
	if a.cfg.EndUserEmail == "" || a.mappingSent {
		return
	}
	if !a.client.HasCapability(CapabilityEndUserEmail) {
		if !a.mappingLogged {
			a.mappingLogged = true
			a.log.Warn().Msg("fleet does not advertise end_user_email: --end-user-email is not sent to this server")
		}
		return
	}
	err := a.client.SetDeviceMapping(ctx, a.cfg.EndUserEmail)
	a.noteAuth(err)
	if err != nil {
		a.logQuiet(fmt.Errorf("device mapping: %w", err), "end-user email not sent to fleet, will retry")
		return
	}
	a.mappingSent = true
	a.log.Info().Msg("end-user email sent to fleet")
}
