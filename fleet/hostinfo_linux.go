package fleet

import (
	"bufio"
	"bytes"
	"strings"

	"github.com/orbitagent/orbit/internal/safefile"
)

func platformHostInfo() HostInfo {
	const dmi = "/sys/class/dmi/id/"
	h := HostInfo{
		HardwareUUID:   readTrim(dmi + "product_uuid"), // root only
		HardwareSerial: readTrim(dmi + "product_serial"),
		HardwareModel:  readTrim(dmi + "product_name"),
	}
	if h.HardwareUUID == "" {
		// machine-id is 32 hex digits, world-readable and stable per install.
		h.HardwareUUID = readTrim("/etc/machine-id")
	}
	if h.HardwareUUID == "" {
		h.HardwareUUID = readTrim("/var/lib/dbus/machine-id")
	}
	h.Platform, h.PlatformLike = osRelease()
	return h
}

// osRelease returns ID and ID_LIKE from /etc/os-release, which is what
// osquery's os_version.platform and platform_like report on Linux.
func osRelease() (id, like string) {
	data, err := safefile.ReadLimited("/etc/os-release", safefile.MaxState)
	if err != nil {
		return "linux", ""
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		switch k {
		case "ID":
			id = v
		case "ID_LIKE":
			like = v
		}
	}
	if id == "" {
		id = "linux"
	}
	return id, like
}
