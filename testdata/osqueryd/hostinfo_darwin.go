package main

import (
	"strconv"
	"strings"
	"syscall"
)

func platformHostInfo() hostInfo {
	sysctl := func(name string) string {
		v, err := syscall.Sysctl(name)
		if err != nil {
			return ""
		}
		return strings.TrimSpace(v)
	}
	h := hostInfo{
		UUID:           sysctl("kern.uuid"),
		CPUBrand:       sysctl("machdep.cpu.brand_string"),
		HardwareModel:  sysctl("hw.model"),
		HardwareVendor: "Apple Inc.",
		OSName:         "macOS",
		OSVersion:      sysctl("kern.osproductversion"),
		OSBuild:        sysctl("kern.osversion"),
		OSPlatform:     "darwin",
		OSPlatformLike: "darwin",
	}
	if h.UUID != "" {
		h.UUID = formatUUID(h.UUID)
	}
	h.OSMajor, h.OSMinor, h.OSPatch = splitVersion(h.OSVersion)
	if mem, err := syscall.SysctlUint32("hw.memsize"); err == nil {
		h.PhysicalMemory = strconv.FormatUint(uint64(mem), 10)
	}
	return h
}
