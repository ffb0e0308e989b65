package binfmt

import (
	"encoding/binary"
	"os"
	"strings"
	"testing"
)

// elfHeader is the smallest header debug/elf accepts: 64-bit, little
// endian, with the given OS ABI, type and machine, and no sections.
func elfHeader(osabi byte, typ, machine uint16) []byte {
	b := make([]byte, 64)
	copy(b, "\x7fELF")
	b[4], b[5], b[6], b[7] = 2, 1, 1, osabi // ELFCLASS64, ELFDATA2LSB, EV_CURRENT
	binary.LittleEndian.PutUint16(b[16:], typ)
	binary.LittleEndian.PutUint16(b[18:], machine)
	binary.LittleEndian.PutUint32(b[20:], 1)  // e_version
	binary.LittleEndian.PutUint16(b[52:], 64) // e_ehsize
	return b
}

func TestCheckELF(t *testing.T) {
	t.Parallel()
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Skipf("no /proc/self/exe: %v", err)
	}
	selfArch := map[uint16]string{62: "amd64", 183: "arm64"}[binary.LittleEndian.Uint16(self[18:])]
	if selfArch == "" {
		t.Skip("test binary is neither amd64 nor arm64")
	}
	other := map[string]string{"amd64": "arm64", "arm64": "amd64"}[selfArch]
	tests := []struct {
		name    string
		data    []byte
		arch    string
		wantErr string
	}{
		{"this test binary", self, selfArch, ""},
		{"this test binary, other arch", self, other, "executable (ELFCLASS64), not " + other},
		{"amd64 exec", elfHeader(0, 2, 62), "amd64", ""},
		{"arm64 pie", elfHeader(3, 3, 183), "arm64", ""},
		{"arm64 for amd64", elfHeader(0, 2, 183), "amd64", "Linux arm64 executable"},
		{"freebsd", elfHeader(9, 2, 62), "amd64", "not Linux"},
		{"object file", elfHeader(0, 1, 62), "amd64", "not an executable"},
		{"riscv", elfHeader(0, 2, 243), "amd64", "EM_RISCV"},
		{"windows pe", pe(0x8664), "amd64", "is a Windows PE, not a Linux ELF"},
		{"mach-o", []byte{0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1}, "arm64", "macOS Mach-O"},
		{"script", []byte("#!/bin/sh\n"), "amd64", "not an executable"},
		{"truncated", []byte("\x7fELF\x02\x01"), "amd64", "no readable ELF header"},
		{"unknown arch", elfHeader(0, 2, 62), "mips", "no Linux machine type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := CheckELF(tt.data, tt.arch)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckELF: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("CheckELF error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
