package msi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sassoftware/relic/v8/lib/comdoc"
)

// The summary information stream is an OLE property set (MS-OLEPS). wixl
// fills it with a random package code and the current time, and always says
// x64; these are the properties we set instead.
const (
	summaryStream = "\x05SummaryInformation"

	pidTemplate     = 7  // "x64;1033", "Arm64;1033"
	pidRevision     = 9  // the package code
	pidCreateTime   = 12 // VT_FILETIME
	pidLastSaveTime = 13 // VT_FILETIME

	vtLPSTR    = 30
	vtFILETIME = 64
)

// summaryEdits are the values that make wixl's output reproducible and
// name the right platform.
type summaryEdits struct {
	PackageCode string // "{XXXXXXXX-...}"
	Time        time.Time
	Template    string // empty keeps wixl's
}

// patchSummary rewrites the summary information stream of the msi at path.
// The edits keep every property's size, so the stream keeps its length and
// relic's compound-file writer puts it back in place deterministically.
func patchSummary(path string, e summaryEdits) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	cdf, err := comdoc.WriteFile(f)
	if err != nil {
		return fmt.Errorf("read wixl's output as a compound file: %w", err)
	}
	old, err := readRootStream(cdf, summaryStream)
	if err != nil {
		return err
	}
	edited, err := editPropertySet(old, e)
	if err != nil {
		return err
	}
	if err := cdf.AddFile(summaryStream, edited); err != nil {
		return fmt.Errorf("write summary information: %w", err)
	}
	if err := cdf.Close(); err != nil {
		return fmt.Errorf("write summary information: %w", err)
	}
	return f.Close()
}

func readRootStream(cdf *comdoc.ComDoc, name string) ([]byte, error) {
	entries, err := cdf.ListDir(nil)
	if err != nil {
		return nil, err
	}
	for _, ent := range entries {
		if ent.Type == comdoc.DirStream && ent.Name() == name {
			r, err := cdf.ReadStream(ent)
			if err != nil {
				return nil, err
			}
			return io.ReadAll(r)
		}
	}
	return nil, fmt.Errorf("msi has no %q stream", name)
}

// filetime converts t to a Windows FILETIME (100 ns since 1601-01-01 UTC).
func filetime(t time.Time) uint64 {
	const epochDiff = 11644473600 // seconds from 1601 to 1970
	return uint64(t.Unix()+epochDiff)*1e7 + uint64(t.Nanosecond()/100)
}

// editPropertySet applies e to a serialized property set and returns the
// new bytes, which have the same length.
func editPropertySet(stream []byte, e summaryEdits) ([]byte, error) {
	out := bytes.Clone(stream)
	props, err := propertyOffsets(out)
	if err != nil {
		return nil, fmt.Errorf("summary information: %w", err)
	}
	setString := func(id uint32, v string) error {
		off, ok := props[id]
		if !ok {
			return fmt.Errorf("summary information: property %d missing", id)
		}
		return putLPSTR(out, off, v)
	}
	setTime := func(id uint32, t time.Time) error {
		off, ok := props[id]
		if !ok {
			return fmt.Errorf("summary information: property %d missing", id)
		}
		if off+12 > len(out) || binary.LittleEndian.Uint32(out[off:]) != vtFILETIME {
			return fmt.Errorf("summary information: property %d is not a FILETIME", id)
		}
		binary.LittleEndian.PutUint64(out[off+4:], filetime(t))
		return nil
	}
	if err := setString(pidRevision, e.PackageCode); err != nil {
		return nil, err
	}
	if err := setTime(pidCreateTime, e.Time); err != nil {
		return nil, err
	}
	if err := setTime(pidLastSaveTime, e.Time); err != nil {
		return nil, err
	}
	if e.Template != "" {
		if err := setString(pidTemplate, e.Template); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// propertyOffsets maps each property id of the first section to the offset
// of its typed value in b.
func propertyOffsets(b []byte) (map[uint32]int, error) {
	if len(b) < 48 || binary.LittleEndian.Uint16(b) != 0xfffe {
		return nil, errors.New("not a property set")
	}
	sect := int(binary.LittleEndian.Uint32(b[44:]))
	if sect < 48 || sect+8 > len(b) {
		return nil, errors.New("section offset out of range")
	}
	n := int(binary.LittleEndian.Uint32(b[sect+4:]))
	if n > (len(b)-sect-8)/8 {
		return nil, errors.New("property count out of range")
	}
	props := make(map[uint32]int, n)
	for i := 0; i < n; i++ {
		entry := sect + 8 + 8*i
		id := binary.LittleEndian.Uint32(b[entry:])
		off := sect + int(binary.LittleEndian.Uint32(b[entry+4:]))
		if off+4 > len(b) {
			return nil, fmt.Errorf("property %d out of range", id)
		}
		props[id] = off
	}
	return props, nil
}

// putLPSTR overwrites the VT_LPSTR at off with v. The new value must fit
// the old one's 4-byte-aligned slot, so nothing after it moves.
func putLPSTR(b []byte, off int, v string) error {
	if off+8 > len(b) || binary.LittleEndian.Uint32(b[off:]) != vtLPSTR {
		return fmt.Errorf("property at %d is not a string", off)
	}
	oldSize := int(binary.LittleEndian.Uint32(b[off+4:]))
	slot := (oldSize + 3) &^ 3
	newSize := len(v) + 1
	if (newSize+3)&^3 != slot || off+8+slot > len(b) {
		return fmt.Errorf("string %q does not fit the %d-byte slot wixl left", v, slot)
	}
	binary.LittleEndian.PutUint32(b[off+4:], uint32(newSize))
	val := b[off+8 : off+8+slot]
	clear(val)
	copy(val, v)
	return nil
}
