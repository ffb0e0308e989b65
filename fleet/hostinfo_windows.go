package fleet

import "golang.org/x/sys/windows/registry"

func platformHostInfo() HostInfo {
	h := HostInfo{Platform: "windows"}
	if k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SOFTWARE\Microsoft\Cryptography`, registry.QUERY_VALUE|registry.WOW64_64KEY); err == nil {
		h.HardwareUUID, _, _ = k.GetStringValue("MachineGuid")
		k.Close()
	}
	if k, err := registry.OpenKey(registry.LOCAL_MACHINE, `HARDWARE\DESCRIPTION\System\BIOS`, registry.QUERY_VALUE); err == nil {
		h.HardwareModel, _, _ = k.GetStringValue("SystemProductName")
		k.Close()
	}
	return h
}
