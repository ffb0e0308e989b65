package binfmt

import (
	"bytes"
	"debug/elf"
	"fmt"
)

// elfMachine is the ELF machine of each Go architecture we package.
var elfMachine = map[string]elf.Machine{
	"amd64": elf.EM_X86_64,
	"arm64": elf.EM_AARCH64,
}

var elfMachineName = map[elf.Machine]string{
	elf.EM_X86_64: "amd64", elf.EM_AARCH64: "arm64", elf.EM_386: "386", elf.EM_ARM: "arm",
}

// CheckELF returns nil when data is a 64-bit little-endian Linux
// executable (ELF, type EXEC or DYN, OS ABI SYSV or GNU/Linux) for goarch;
// otherwise an error that says what the file is instead.
func CheckELF(data []byte, goarch string) error {
	want, ok := elfMachine[goarch]
	if !ok {
		return fmt.Errorf("no Linux machine type for architecture %q", goarch)
	}
	if k := Detect(data); k != ELF {
		return fmt.Errorf("is a %s, not a Linux ELF executable", k)
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("has an ELF magic but no readable ELF header: %v", err)
	}
	if f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
		return fmt.Errorf("is an ELF executable for %v, not Linux", f.OSABI)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("is an ELF %v, not an executable", f.Type)
	}
	if f.Machine != want || f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB {
		name := elfMachineName[f.Machine]
		if name == "" {
			name = f.Machine.String()
		}
		return fmt.Errorf("is a Linux %s executable (%v), not %s", name, f.Class, goarch)
	}
	return nil
}
