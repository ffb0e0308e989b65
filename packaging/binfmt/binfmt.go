// Package binfmt tells executable formats apart by their headers, so a
// package for one platform refuses a binary built for another (a Linux ELF
// given as orbit.exe, a Windows PE in a deb) with a line that names both.
package binfmt

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Kind is an executable format.
type Kind string

// The formats a packager meets.
const (
	PE      Kind = "Windows PE"
	ELF     Kind = "Linux ELF"
	MachO   Kind = "macOS Mach-O"
	Unknown Kind = "not an executable"
)

// Detect names the format of an executable from its first bytes.
func Detect(data []byte) Kind {
	switch {
	case len(data) >= 2 && data[0] == 'M' && data[1] == 'Z':
		return PE
	case bytes.HasPrefix(data, []byte("\x7fELF")):
		return ELF
	case len(data) >= 4 && isMachOMagic(binary.BigEndian.Uint32(data)):
		return MachO
	}
	return Unknown
}

func isMachOMagic(m uint32) bool {
	switch m {
	case 0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe, // thin, either byte order
		0xcafebabe: // universal (fat)
		return true
	}
	return false
}

// peMachine is the COFF machine type of each Go architecture we package.
var peMachine = map[string]uint16{
	"amd64": 0x8664, // IMAGE_FILE_MACHINE_AMD64
	"arm64": 0xaa64, // IMAGE_FILE_MACHINE_ARM64
	"386":   0x014c, // IMAGE_FILE_MACHINE_I386
}

var peMachineName = map[uint16]string{0x8664: "amd64", 0xaa64: "arm64", 0x014c: "386"}

// CheckPE returns nil when data is a PE image (an "MZ" DOS header whose
// e_lfanew points at "PE\0\0") for goarch; otherwise an error that says
// what the file is instead.
func CheckPE(data []byte, goarch string) error {
	want, ok := peMachine[goarch]
	if !ok {
		return fmt.Errorf("no Windows machine type for architecture %q", goarch)
	}
	if k := Detect(data); k != PE {
		return fmt.Errorf("is a %s, not a Windows PE executable", k)
	}
	if len(data) < 0x40 {
		return fmt.Errorf("is too short for a PE executable (%d bytes)", len(data))
	}
	off := int64(binary.LittleEndian.Uint32(data[0x3c:]))
	if off+6 > int64(len(data)) || !bytes.Equal(data[off:off+4], []byte("PE\x00\x00")) {
		return fmt.Errorf("has an MZ header but no PE signature: not a Windows PE executable")
	}
	got := binary.LittleEndian.Uint16(data[off+4:])
	if got != want {
		name := peMachineName[got]
		if name == "" {
			name = fmt.Sprintf("machine 0x%04x", got)
		}
		return fmt.Errorf("is a Windows %s executable, not %s", name, goarch)
	}
	return nil
}
