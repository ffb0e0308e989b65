// Package regularfile opens and reads files that must be regular files
// (release targets, roots, certificates, secrets): a FIFO or a device
// given in their place is refused at once instead of blocking open() or
// streaming forever, and a file larger than its cap is refused by its size
// without reading it.
package regularfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ErrNotRegular is wrapped when a path is not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is wrapped when a file is larger than the reader's cap.
var ErrTooLarge = errors.New("file too large")

// Open opens path for reading if it is a regular file (links are
// followed). The type is checked before opening, the open does not block
// (O_NONBLOCK on Unix: a FIFO without a writer or a tty cannot hang it),
// and the type and identity are checked again on the open descriptor, so a
// file swapped for a FIFO or a device between the two checks is refused
// too. The info returned describes the open file.
func Open(path string) (*os.File, fs.FileInfo, error) {
	before, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if err := regular(path, before); err != nil {
		return nil, nil, err
	}
	if testHookBeforeOpen != nil {
		testHookBeforeOpen(path)
	}
	f, err := openNonBlocking(path)
	if err != nil {
		return nil, nil, err
	}
	after, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("stat %s: %w", path, err)
	}
	if err := regular(path, after); err != nil {
		f.Close()
		return nil, nil, err
	}
	if !os.SameFile(before, after) {
		f.Close()
		return nil, nil, fmt.Errorf("%s was replaced while it was opened: try again, and check who else writes there", path)
	}
	return f, after, nil
}

// testHookBeforeOpen runs between the two checks of Open, so a test can
// swap the file there.
var testHookBeforeOpen func(path string)

func regular(path string, fi fs.FileInfo) error {
	if fi.Mode().IsRegular() {
		return nil
	}
	kind := "a special file"
	switch m := fi.Mode(); {
	case m.IsDir():
		kind = "a directory"
	case m&fs.ModeNamedPipe != 0:
		kind = "a FIFO"
	case m&fs.ModeDevice != 0:
		kind = "a device"
	case m&fs.ModeSocket != 0:
		kind = "a socket"
	}
	return fmt.Errorf("%s is %s, %w: give the path of a file", path, kind, ErrNotRegular)
}

// ReadFile reads the regular file path, of at most max bytes.
func ReadFile(path string, max int64) ([]byte, error) {
	f, fi, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi.Size() > max {
		return nil, fmt.Errorf("%s is %d bytes, larger than the %d allowed: %w", path, fi.Size(), max, ErrTooLarge)
	}
	// The file may grow after the check: read one byte past the cap.
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s grew past the %d bytes allowed while read: %w", path, max, ErrTooLarge)
	}
	return data, nil
}
