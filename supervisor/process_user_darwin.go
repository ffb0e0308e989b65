package supervisor

import "os"

// startAsUser runs the child in the user's login (Aqua) context, where a
// menu bar app can reach the window server: `launchctl asuser` needs root
// and keeps it, so sudo drops to the user, and env sets the child's
// environment (sudo would reset it). No shell is involved; the child is in
// its own process group like any other, but macOS has no parent-death
// signal: it is the tray's own parent watch that ends it if orbit dies.
func startAsUser(spec Spec, stdout, stderr *os.File) (Child, error) {
	wrapped, err := asUserSpec(spec)
	if err != nil {
		return nil, err
	}
	return startCmd(command(wrapped, stdout, stderr))
}
