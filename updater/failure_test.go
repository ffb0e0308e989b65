package updater

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

func TestClassifyFailures(t *testing.T) {
	t.Parallel()
	exitErr := func() error {
		err := exec.Command(os.Args[0], "-test.run=^$", "-no-such-flag").Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("want an exit error from a failing child, got %v", err)
		}
		return err
	}()
	wrap := func(err error) error { return fmt.Errorf("download target osqueryd: %w", err) }
	cases := []struct {
		name string
		err  error
		want failureClass
	}{
		{"disk full while writing", wrap(&fs.PathError{Op: "write", Path: "staging/x", Err: syscall.ENOSPC}), failDisk},
		{"over quota", wrap(&fs.PathError{Op: "write", Path: "staging/x", Err: syscall.EDQUOT}), failDisk},
		{"read-only file system", wrap(&fs.PathError{Op: "mkdir", Path: "staging", Err: syscall.EROFS}), failDisk},
		{"staging is a file", wrap(&fs.PathError{Op: "mkdirtemp", Path: "staging/dl-*", Err: syscall.ENOTDIR}), failDisk},
		{"rename across devices failed", &os.LinkError{Op: "rename", Old: "a", New: "b", Err: syscall.EXDEV}, failDisk},
		{"permission denied", wrap(&fs.PathError{Op: "open", Path: "bin/x", Err: syscall.EACCES}), failPermission},
		{"operation not permitted", wrap(&fs.PathError{Op: "chmod", Path: "bin/x", Err: syscall.EPERM}), failPermission},
		{"staging open to other users", fmt.Errorf("staging: %w", errOpenDir), failPermission},
		{"connection refused", wrap(&url.Error{Op: "Get", URL: "http://x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}), failNetwork},
		{"download timeout", wrap(context.DeadlineExceeded), failNetwork},
		{"body cut off", wrap(io.ErrUnexpectedEOF), failNetwork},
		{"server error", wrap(&metadata.ErrDownloadHTTP{StatusCode: 503}), failNetwork},
		{"rate limited", wrap(&metadata.ErrDownloadHTTP{StatusCode: 429}), failNetwork},
		{"target missing on the server", wrap(&metadata.ErrDownloadHTTP{StatusCode: 404}), failServer},
		{"wrong bytes", errors.New("download target x: sha512 hash does not match the signed metadata: refusing it"), failServer},
		{"exec check exits non-zero", fmt.Errorf("exec check of x failed: %w", releaseFault(exitErr)), failRelease},
		{"not a program for this machine", releaseFault(&fs.PathError{Op: "fork/exec", Path: "x", Err: syscall.ENOEXEC}), failRelease},
		{"archive refused", releaseFault(errors.New(`archive entry "../x" escapes the target directory`)), failRelease},
		// A full disk while extracting a verified archive is still the disk.
		{"disk full while extracting", releaseFault(fmt.Errorf("extract x: %w", &fs.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC})), failDisk},
	}
	for _, c := range cases {
		if got := classify(c.err); got != c.want {
			t.Errorf("%s: classify(%v) = %s, want %s", c.name, c.err, got, c.want)
		}
		if got := classify(c.err).counts(); got != (c.want == failRelease) {
			t.Errorf("%s: counts against the release = %v", c.name, got)
		}
	}
}
