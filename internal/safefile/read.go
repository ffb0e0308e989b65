package safefile

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Size limits of the files orbit reads, one per kind. A file over its
// limit is refused, never truncated: a secret or a certificate cut short
// would fail later with a less useful message.
const (
	// MaxSecret bounds an enroll secret, node key or device token file.
	// Fleet's secrets are tens of bytes, and the enroll secret goes into
	// osqueryd's environment, whose size the kernel limits.
	MaxSecret = 4 << 10
	// MaxCABundle bounds a PEM bundle of CA certificates (Fleet's, the
	// update server's, the tray app's): a full system bundle is ~250 KiB.
	MaxCABundle = 1 << 20
	// MaxRoot bounds a TUF root.json (bundled or cached).
	MaxRoot = 512 << 10
	// MaxConfig bounds an osquery config or the cached Fleet config (the
	// Orbit API's answers are limited to 10 MiB).
	MaxConfig = 10 << 20
	// MaxState bounds orbit's own state files and small files it reads
	// back (state.json, the updater's state, osquery.flags, pid files).
	MaxState = 4 << 20
)

// ErrTooLarge is ReadLimited's error for a file over its limit.
var ErrTooLarge = errors.New("file is larger than its limit")

// ErrNotRegular is ReadLimited's error for something that is not a
// regular file (a directory, a FIFO, a device such as /dev/zero).
var ErrNotRegular = errors.New("not a regular file")

// ReadLimited reads the whole of path, which must be a regular file of at
// most max bytes. The type is checked on the opened descriptor (a path
// swapped between a stat and an open does not matter), and the open does
// not wait for a writer, so a FIFO put in a file's place cannot hang orbit.
// The errors wrap ErrTooLarge, ErrNotRegular or the open's error (so
// errors.Is(err, fs.ErrNotExist) works) and name the path and the limit.
func ReadLimited(path string, max int64) ([]byte, error) {
	data, _, err := ReadLimitedInfo(path, max)
	return data, err
}

// ReadLimitedInfo is ReadLimited that also returns the file's information
// as read from the same descriptor (its mtime, its inode for a change
// check).
func ReadLimitedInfo(path string, max int64) ([]byte, os.FileInfo, error) {
	f, fi, err := OpenRegular(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	if fi.Size() > max {
		return nil, nil, tooLarge(path, max)
	}
	// The file may grow after the stat: never read more than max+1.
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > max {
		return nil, nil, tooLarge(path, max)
	}
	return data, fi, nil
}

// OpenRegular opens path for reading if it is a regular file (links are
// followed), for callers that stream it (a release target, an archive).
// The open does not wait (O_NONBLOCK on Unix: a FIFO without a writer or
// a tty cannot hang it) and the type is checked on the opened descriptor,
// so a path swapped for a FIFO or a device is refused, and what is read is
// what was checked. The info returned describes the open file.
func OpenRegular(path string) (*os.File, os.FileInfo, error) {
	f, err := openNoWait(path)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("read %s: %w (it is a %s): give the path of a file", path, ErrNotRegular, kind(fi.Mode()))
	}
	return f, fi, nil
}

func tooLarge(path string, max int64) error {
	return fmt.Errorf("read %s: %w: the limit for this file is %s", path, ErrTooLarge, sizeString(max))
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

func kind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&os.ModeNamedPipe != 0:
		return "FIFO"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeDevice != 0:
		return "device"
	}
	return "special file"
}
