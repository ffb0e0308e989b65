package main

import (
	"golang.org/x/sys/windows/registry"
)

func platformHostInfo() hostInfo {
	h := hostInfo{OSName: "Microsoft Windows", OSPlatform: "windows", OSPlatformLike: "windows"}
	if k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SOFTWARE\Microsoft\Cryptography`, registry.QUERY_VALUE|registry.WOW64_64KEY); err == nil {
		if v, _, err := k.GetStringValue("MachineGuid"); err == nil {
			h.UUID = formatUUID(v)
		}
		k.Close()
	}
	if k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SOFTWARE\Microsoft\Windows NT\CurrentVersion`, registry.QUERY_VALUE); err == nil {
		if v, _, err := k.GetStringValue("ProductName"); err == nil {
			h.OSName = v
		}
		if v, _, err := k.GetStringValue("CurrentBuild"); err == nil {
			h.OSBuild = v
		}
		if maj, _, err := k.GetIntegerValue("CurrentMajorVersionNumber"); err == nil {
			min, _, _ := k.GetIntegerValue("CurrentMinorVersionNumber")
			h.OSMajor = itoa(int64(maj))
			h.OSMinor = itoa(int64(min))
			h.OSVersion = h.OSMajor + "." + h.OSMinor + "." + h.OSBuild
		}
		k.Close()
	}
	if k, err := registry.OpenKey(registry.LOCAL_MACHINE, `HARDWARE\DESCRIPTION\System\CentralProcessor\0`, registry.QUERY_VALUE); err == nil {
		if v, _, err := k.GetStringValue("ProcessorNameString"); err == nil {
			h.CPUBrand = v
		}
		k.Close()
	}
	return h
}
