package supervisor

import (
	"fmt"
	"time"

	"golang.org/x/sys/windows/svc/mgr"
)

// The SCM's answer to a failure of orbit: start it again after a second,
// every time (the SCM repeats the last action), and count failures afresh
// after a day. The same policy `orbit service install` asks kardianos for.
const (
	recoveryDelay       = time.Second
	recoveryResetPeriod = 24 * time.Hour
)

// SetRecoveryActions gives the Windows service name its restart-on-failure
// recovery actions, and makes a stop with a non-zero exit code count as a
// failure too (orbit exits on purpose after its own update or a refused
// start, and must come back). An msi cannot set these (wixl has no
// util:ServiceConfig), so orbit sets them itself, once per start, when it
// runs under the SCM (supervisor.Interactive() is false). It changes
// nothing when the actions are already in place. Needs the rights of
// LocalSystem or an administrator.
func SetRecoveryActions(name string) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connect to the service manager: %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return fmt.Errorf("open service %q: %w", name, err)
	}
	defer s.Close()
	if recoveryActionsSet(s) {
		return nil
	}
	actions := []mgr.RecoveryAction{{Type: mgr.ServiceRestart, Delay: recoveryDelay}}
	if err := s.SetRecoveryActions(actions, uint32(recoveryResetPeriod/time.Second)); err != nil {
		return fmt.Errorf("set recovery actions of service %q: %w", name, err)
	}
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		return fmt.Errorf("set recovery on non-crash failures of service %q: %w", name, err)
	}
	return nil
}

func recoveryActionsSet(s *mgr.Service) bool {
	actions, err := s.RecoveryActions()
	if err != nil || len(actions) == 0 {
		return false
	}
	for _, a := range actions {
		if a.Type != mgr.ServiceRestart || a.Delay != recoveryDelay {
			return false
		}
	}
	reset, err := s.ResetPeriod()
	if err != nil || reset != uint32(recoveryResetPeriod/time.Second) {
		return false
	}
	nonCrash, err := s.RecoveryActionsOnNonCrashFailures()
	return err == nil && nonCrash
}
