// Package e2e holds the packager's end-to-end test: the real orbitctl
// builds a deb from a repository the real orbitctl made, the deb installs
// in a Debian chroot, and the installed orbit runs offline from the update
// server. It has no code of its own.
package e2e
