// Package cpio writes odc cpio archives (POSIX.1 "portable", magic
// "070707"): the format of a macOS flat package's Payload and Scripts,
// which Apple's installer unpacks with its own pax-style reader.
//
// The writer is deterministic: inode numbers count up from 1 in archive
// order, the device is 0, and every time comes from the header, so the
// same headers and data always give the same bytes.
package cpio

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/orbitagent/orbit/packaging/internal/unixmode"
)

const (
	magic   = "070707"
	trailer = "TRAILER!!!"
	// Largest values of the 6- and 11-digit octal header fields.
	max6  = 0o777777
	max11 = 0o77777777777
)

// ErrWriteTooLong is returned when more data is written than the header's
// Size announced.
var ErrWriteTooLong = errors.New("cpio: write beyond the size in the header")

// Header describes one entry.
type Header struct {
	// Name is stored as given ("./opt/orbit"); macOS payloads use
	// "."-relative names.
	Name string
	// Mode holds the permission bits and fs.ModeDir or fs.ModeSymlink;
	// no type bits means a regular file.
	Mode     fs.FileMode
	UID, GID int
	ModTime  time.Time
	// Size is the length of a regular file's data; 0 otherwise.
	Size int64
	// Linkname is a symlink's target; the writer stores it as the
	// entry's data, as cpio does.
	Linkname string
}

// Writer writes an archive. Call WriteHeader, then Write the entry's
// data, for each entry, and Close to add the trailer.
type Writer struct {
	w      io.Writer
	ino    int
	remain int64
	err    error
	closed bool
}

// NewWriter returns a writer that writes an archive to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// WriteHeader starts a new entry. The previous entry's data must be
// complete.
func (w *Writer) WriteHeader(h *Header) error {
	if err := w.ready(); err != nil {
		return err
	}
	if h.Name == "" || strings.IndexByte(h.Name, 0) >= 0 {
		return fmt.Errorf("cpio: entry name %q must be non-empty and hold no NUL byte", h.Name)
	}
	if h.Name == trailer {
		return fmt.Errorf("cpio: %q is reserved for the trailer", trailer)
	}
	mode, err := unixmode.Of(h.Mode)
	if err != nil {
		return fmt.Errorf("cpio: %s: %w", h.Name, err)
	}
	var data []byte
	size := h.Size
	nlink := 1
	switch h.Mode.Type() {
	case fs.ModeDir:
		if size != 0 || h.Linkname != "" {
			return fmt.Errorf("cpio: directory %s cannot have data or a link target", h.Name)
		}
		nlink = 2
	case fs.ModeSymlink:
		if h.Linkname == "" || strings.IndexByte(h.Linkname, 0) >= 0 {
			return fmt.Errorf("cpio: symlink %s needs a target without NUL bytes", h.Name)
		}
		if size != 0 {
			return fmt.Errorf("cpio: symlink %s: Size must be 0, the target is its data", h.Name)
		}
		data = []byte(h.Linkname)
		size = int64(len(data))
	default:
		if h.Linkname != "" {
			return fmt.Errorf("cpio: regular file %s cannot have a link target", h.Name)
		}
	}
	mtime := h.ModTime.Unix()
	ino := w.ino + 1
	fields := []struct {
		what  string
		v     int64
		width int
	}{
		{"device", 0, 6},
		{"inode", int64(ino), 6},
		{"mode", int64(mode), 6},
		{"uid", int64(h.UID), 6},
		{"gid", int64(h.GID), 6},
		{"link count", int64(nlink), 6},
		{"rdev", 0, 6},
		{"mtime", mtime, 11},
		{"name size", int64(len(h.Name) + 1), 6},
		{"file size", size, 11},
	}
	var b strings.Builder
	b.WriteString(magic)
	for _, f := range fields {
		limit := int64(max6)
		if f.width == 11 {
			limit = max11
		}
		if f.v < 0 || f.v > limit {
			return fmt.Errorf("cpio: %s: %s %d does not fit the odc header (0..%d)", h.Name, f.what, f.v, limit)
		}
		fmt.Fprintf(&b, "%0*o", f.width, f.v)
	}
	b.WriteString(h.Name)
	b.WriteByte(0)
	w.ino = ino
	if _, err := io.WriteString(w.w, b.String()); err != nil {
		w.err = err
		return err
	}
	if data != nil {
		if _, err := w.w.Write(data); err != nil {
			w.err = err
			return err
		}
		return nil
	}
	w.remain = size
	return nil
}

// Write writes the current entry's data.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, errors.New("cpio: write after Close")
	}
	tooLong := int64(len(p)) > w.remain
	if tooLong {
		p = p[:w.remain]
	}
	n, err := w.w.Write(p)
	w.remain -= int64(n)
	if err != nil {
		w.err = err
		return n, err
	}
	if tooLong {
		return n, ErrWriteTooLong
	}
	return n, nil
}

// Close writes the trailer. It does not close the underlying writer.
func (w *Writer) Close() error {
	if err := w.ready(); err != nil {
		return err
	}
	w.closed = true
	// The trailer is an empty entry with a link count of 1, as cpio and
	// pax write it.
	s := fmt.Sprintf("%s%06o%06o%06o%06o%06o%06o%06o%011o%06o%011o%s\x00",
		magic, 0, 0, 0, 0, 0, 1, 0, 0, len(trailer)+1, 0, trailer)
	if _, err := io.WriteString(w.w, s); err != nil {
		w.err = err
		return err
	}
	return nil
}

func (w *Writer) ready() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("cpio: archive already closed")
	}
	if w.remain > 0 {
		return fmt.Errorf("cpio: previous entry is missing %d bytes of data", w.remain)
	}
	return nil
}
