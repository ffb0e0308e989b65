// Package unixmode turns a Go fs.FileMode into the st_mode word that Unix
// archive formats store (cpio headers, Apple BOM entries): the file-type
// bits and the permission bits in their traditional octal positions.
package unixmode

import (
	"fmt"
	"io/fs"
)

// File-type bits of st_mode.
const (
	TypeRegular = 0o100000
	TypeDir     = 0o040000
	TypeSymlink = 0o120000
)

// Of returns the st_mode of m. Only regular files, directories and
// symlinks are supported: installers carry nothing else, and a device or
// socket in a package is a mistake worth stopping for.
func Of(m fs.FileMode) (uint32, error) {
	v := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		v |= 0o1000
	}
	switch m.Type() {
	case 0:
		return v | TypeRegular, nil
	case fs.ModeDir:
		return v | TypeDir, nil
	case fs.ModeSymlink:
		return v | TypeSymlink, nil
	}
	return 0, fmt.Errorf("file type %v is not supported: only regular files, directories and symlinks", m.Type())
}
