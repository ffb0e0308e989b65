package binfmt

import (
	"bytes"
	"debug/macho"
	"fmt"
)

// machoCPU is the Mach-O CPU type of each Go architecture we package.
var machoCPU = map[string]macho.Cpu{
	"amd64": macho.CpuAmd64,
	"arm64": macho.CpuArm64,
}

var machoCPUName = map[macho.Cpu]string{macho.CpuAmd64: "amd64", macho.CpuArm64: "arm64", macho.Cpu386: "386"}

// CheckMachO returns nil when data is a macOS executable that runs on
// goarch: a thin Mach-O executable for it, or a universal (fat) binary
// with a slice for it, as Fleet publishes osqueryd and orbit for macOS;
// otherwise an error that says what the file is instead.
func CheckMachO(data []byte, goarch string) error {
	want, ok := machoCPU[goarch]
	if !ok {
		return fmt.Errorf("no macOS CPU type for architecture %q", goarch)
	}
	if k := Detect(data); k != MachO {
		return fmt.Errorf("is a %s, not a macOS Mach-O executable", k)
	}
	if fat, err := macho.NewFatFile(bytes.NewReader(data)); err == nil {
		var have []string
		for _, a := range fat.Arches {
			if a.Cpu == want {
				return checkMachOType(a.File)
			}
			have = append(have, cpuName(a.Cpu))
		}
		return fmt.Errorf("is a universal macOS executable for %v, without %s", have, goarch)
	}
	f, err := macho.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("has a Mach-O magic but no readable Mach-O header: %v", err)
	}
	if f.Cpu != want {
		return fmt.Errorf("is a macOS %s executable, not %s", cpuName(f.Cpu), goarch)
	}
	return checkMachOType(f)
}

func checkMachOType(f *macho.File) error {
	if f.Type != macho.TypeExec {
		return fmt.Errorf("is a Mach-O %v, not an executable", f.Type)
	}
	return nil
}

func cpuName(c macho.Cpu) string {
	if n := machoCPUName[c]; n != "" {
		return n
	}
	return c.String()
}
