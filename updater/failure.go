package updater

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// failureClass says whose problem a failed update is. Only a release that
// was verified and then does not work (failRelease) is held against its
// hash; everything else is the host's or the network's problem, retried
// with backoff and never rested, so a full disk or a flaky proxy does not
// put a good release aside for a day.
type failureClass string

const (
	// failDisk: no space, over quota, read-only or failing disk, or any
	// other local file operation that failed (a staging path that is a
	// file).
	failDisk failureClass = "disk"
	// failPermission: orbit may not write or run where it must, or a
	// directory it installs from is open to other users.
	failPermission failureClass = "permission"
	// failNetwork: connection, TLS, timeout, a cut-off body, HTTP 5xx,
	// 408 or 429.
	failNetwork failureClass = "network"
	// failServer: the server answered, but not with the release: bytes
	// that do not match the signed hashes or length, another 4xx, refused
	// metadata. The signed release may be fine; a mirror is not.
	failServer failureClass = "server"
	// failRelease: a verified file fails its exec check, or a verified
	// archive holds what may not be installed.
	failRelease failureClass = "release"
)

// counts reports whether a failure of this class counts against the
// release's hash (3 of them rest it for 24 h).
func (c failureClass) counts() bool { return c == failRelease }

// releaseError marks a failure of the verified release itself; see
// releaseFault.
type releaseError struct{ err error }

func (e *releaseError) Error() string { return e.err.Error() }
func (e *releaseError) Unwrap() error { return e.err }

// releaseFault marks err as the release's own failure. A host cause inside
// it (ENOSPC while extracting) still wins in classify.
func releaseFault(err error) error {
	if err == nil {
		return nil
	}
	return &releaseError{err: err}
}

// classify sorts a failed update by its cause, from the error chain's
// types and errnos, never from message text.
func classify(err error) failureClass {
	switch {
	case isDiskErr(err):
		return failDisk
	case errors.Is(err, fs.ErrPermission), errors.Is(err, errOpenDir):
		return failPermission
	}
	var re *releaseError
	if errors.As(err, &re) {
		return failRelease
	}
	if isNetworkErr(err) {
		return failNetwork
	}
	var pe *fs.PathError
	var le *os.LinkError
	var se *os.SyscallError
	if errors.As(err, &pe) || errors.As(err, &le) || errors.As(err, &se) {
		return failDisk
	}
	return failServer
}

// isNetworkErr reports a transport failure or an answer that says "later".
func isNetworkErr(err error) bool {
	var he *metadata.ErrDownloadHTTP
	if errors.As(err, &he) {
		s := he.StatusCode
		return s >= 500 || s == http.StatusRequestTimeout || s == http.StatusTooManyRequests
	}
	// Not net.Error: syscall.Errno implements it too. client.Do fails with
	// a *url.Error, a body read with a *net.OpError.
	var ue *url.Error
	var oe *net.OpError
	var de *net.DNSError
	return errors.As(err, &ue) || errors.As(err, &oe) || errors.As(err, &de) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF)
}

// errOpenDir means a directory the updater installs from is open to other
// users (see checkDir).
var errOpenDir = errors.New("another user could replace the download before it is installed")
