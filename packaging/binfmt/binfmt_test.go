package binfmt

import (
	"encoding/binary"
	"os"
	"strings"
	"testing"
)

// pe builds the smallest header CheckPE reads: MZ, e_lfanew, PE\0\0, machine.
func pe(machine uint16) []byte {
	b := make([]byte, 0x80)
	copy(b, "MZ")
	binary.LittleEndian.PutUint32(b[0x3c:], 0x40)
	copy(b[0x40:], "PE\x00\x00")
	binary.LittleEndian.PutUint16(b[0x44:], machine)
	return b
}

func TestCheckPE(t *testing.T) {
	t.Parallel()
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Skipf("no /proc/self/exe to use as an ELF: %v", err)
	}
	noSig := pe(0x8664)
	copy(noSig[0x40:], "XX")
	badOffset := pe(0x8664)
	binary.LittleEndian.PutUint32(badOffset[0x3c:], 0xffffff)
	tests := []struct {
		name    string
		data    []byte
		arch    string
		wantErr string
	}{
		{"amd64", pe(0x8664), "amd64", ""},
		{"arm64", pe(0xaa64), "arm64", ""},
		{"arm64 for amd64", pe(0xaa64), "amd64", "Windows arm64 executable, not amd64"},
		{"amd64 for arm64", pe(0x8664), "arm64", "Windows amd64 executable, not arm64"},
		{"unknown machine", pe(0x01c4), "amd64", "machine 0x01c4"},
		{"linux elf", self, "amd64", "is a Linux ELF"},
		{"mach-o", []byte{0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1}, "amd64", "macOS Mach-O"},
		{"text", []byte("#!/bin/sh\n"), "amd64", "not an executable"},
		{"mz without pe", noSig, "amd64", "no PE signature"},
		{"e_lfanew past the end", badOffset, "amd64", "no PE signature"},
		{"short", []byte("MZ"), "amd64", "too short"},
		{"unknown arch", pe(0x8664), "mips", "no Windows machine type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := CheckPE(tt.data, tt.arch)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckPE: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("CheckPE error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
