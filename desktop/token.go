package desktop

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"strings"
)

// maxTokenFile bounds what is read of the identifier file: a token is a
// UUID, and the tray never slurps an arbitrary file it is pointed at.
const maxTokenFile = 4 << 10

// maxTokenLen is the longest token accepted.
const maxTokenLen = 256

// ErrBadToken means the identifier file holds no usable device token.
var ErrBadToken = errors.New("the identifier file does not hold a device token")

// TokenFile reads the device token orbit writes and tells whether the file
// changed since it was last read. orbit replaces the file atomically on
// rotation (a new inode and mtime), so a stat is enough to notice it.
// Not safe for concurrent use.
type TokenFile struct {
	Path string
	last fs.FileInfo
}

// Read reads and checks the token, and remembers the file's identity for
// Changed.
func (f *TokenFile) Read() (string, error) {
	// Stat first: opening a FIFO or a device put in its place could block
	// the tray for good.
	if st, err := os.Stat(f.Path); err != nil {
		return "", fmt.Errorf("read the device token: %w", err)
	} else if !st.Mode().IsRegular() {
		return "", fmt.Errorf("read the device token: %s is not a regular file", f.Path)
	}
	fh, err := os.Open(f.Path)
	if err != nil {
		return "", fmt.Errorf("read the device token: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return "", fmt.Errorf("read the device token: %w", err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("read the device token: %s is not a regular file", f.Path)
	}
	data, err := io.ReadAll(io.LimitReader(fh, maxTokenFile+1))
	if err != nil {
		return "", fmt.Errorf("read the device token: %w", err)
	}
	f.last = st
	if len(data) > maxTokenFile {
		return "", fmt.Errorf("%w: %s is larger than %d bytes", ErrBadToken, f.Path, maxTokenFile)
	}
	tok := strings.TrimSpace(string(data))
	if !validToken(tok) {
		return "", fmt.Errorf("%w: %s must hold one URL-safe token (orbit writes a UUID)", ErrBadToken, f.Path)
	}
	return tok, nil
}

// Changed reports whether the file is not the one last read (replaced,
// rewritten or resized), or was never read. A missing file is an error.
func (f *TokenFile) Changed() (bool, error) {
	st, err := os.Stat(f.Path)
	if err != nil {
		return false, fmt.Errorf("check the device token: %w", err)
	}
	prev := f.last
	if prev == nil {
		return true, nil
	}
	return !os.SameFile(prev, st) || !st.ModTime().Equal(prev.ModTime()) || st.Size() != prev.Size(), nil
}

// validToken is Fleet's rule (a token that URL query escaping leaves
// alone, as it goes into the path), with a length bound; "." and ".." are
// refused as they would move the path they are put in.
func validToken(t string) bool {
	return t != "" && t != "." && t != ".." && len(t) <= maxTokenLen && url.QueryEscape(t) == t
}
