package binfmt

import (
	"encoding/binary"
	"os"
	"strings"
	"testing"

	"github.com/orbitagent/orbit/internal/testbin"
)

func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

// fat wraps thin Mach-O images into a universal binary, as lipo does.
func fat(t *testing.T, slices map[uint32][]byte) []byte {
	t.Helper()
	const align = 1 << 14
	hdr := make([]byte, 8+20*len(slices))
	binary.BigEndian.PutUint32(hdr, 0xcafebabe)
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(slices)))
	out := append([]byte(nil), hdr...)
	i := 0
	for _, cpu := range []uint32{0x01000007, 0x0100000c} { // amd64, arm64: a stable order
		img, ok := slices[cpu]
		if !ok {
			continue
		}
		for len(out)%align != 0 {
			out = append(out, 0)
		}
		e := out[8+20*i:]
		binary.BigEndian.PutUint32(e, cpu)
		binary.BigEndian.PutUint32(e[8:], uint32(len(out)))
		binary.BigEndian.PutUint32(e[12:], uint32(len(img)))
		binary.BigEndian.PutUint32(e[16:], 14)
		out = append(out, img...)
		i++
	}
	return out
}

func TestCheckMachO(t *testing.T) {
	t.Parallel()
	read := func(goos, arch string) []byte {
		b, err := os.ReadFile(testbin.BuildFor(t, "./packaging/testdata/winhello", "hello-"+goos+"-"+arch, goos, arch))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	amd, arm := read("darwin", "amd64"), read("darwin", "arm64")
	universal := fat(t, map[uint32][]byte{0x01000007: amd, 0x0100000c: arm})
	armOnly := fat(t, map[uint32][]byte{0x0100000c: arm})
	for _, tt := range []struct {
		name, arch string
		data       []byte
		want       string // "" = accepted
	}{
		{"thin amd64", "amd64", amd, ""},
		{"thin arm64", "arm64", arm, ""},
		{"universal on amd64", "amd64", universal, ""},
		{"universal on arm64", "arm64", universal, ""},
		{"thin arm64 for amd64", "amd64", arm, "is a macOS arm64 executable, not amd64"},
		{"universal without amd64", "amd64", armOnly, "without amd64"},
		{"linux binary", "amd64", read("linux", "amd64"), "is a Linux ELF, not a macOS Mach-O executable"},
		{"windows binary", "arm64", read("windows", "arm64"), "is a Windows PE, not a macOS Mach-O executable"},
		{"text", "arm64", []byte("#!/bin/sh\n"), "not an executable"},
		{"unknown arch", "riscv64", amd, "no macOS CPU type"},
	} {
		err := CheckMachO(tt.data, tt.arch)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: CheckMachO = %v, want %q", tt.name, err, tt.want)
		}
	}
}
