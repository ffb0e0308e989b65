//go:build !windows

package supervisor

// SetRecoveryActions does nothing outside Windows: systemd (Restart=always
// in the unit) and launchd (KeepAlive in the plist) restart orbit from its
// service definition.
func SetRecoveryActions(name string) error { return nil }
