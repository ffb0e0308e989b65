// Package e2e holds the end-to-end tests of the product as its docs
// describe it: the packager's (the real orbitctl builds a deb from a
// repository the real orbitctl made, the deb installs in a Debian chroot,
// and the installed orbit runs offline from the update server), and the
// README's (every shell command README.md shows runs, or is listed with
// what covers it, and docs/troubleshooting.md greps for messages the code
// logs). It has no code of its own.
package e2e
