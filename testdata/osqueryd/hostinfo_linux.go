package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func platformHostInfo() hostInfo {
	const dmi = "/sys/class/dmi/id/"
	h := hostInfo{
		UUID:            readTrim(dmi + "product_uuid"),
		HardwareSerial:  readTrim(dmi + "product_serial"),
		HardwareVendor:  readTrim(dmi + "sys_vendor"),
		HardwareModel:   readTrim(dmi + "product_name"),
		HardwareVersion: readTrim(dmi + "product_version"),
		BoardVendor:     readTrim(dmi + "board_vendor"),
		BoardModel:      readTrim(dmi + "board_name"),
		BoardVersion:    readTrim(dmi + "board_version"),
		BoardSerial:     readTrim(dmi + "board_serial"),
	}
	if h.UUID == "" {
		// Not osquery's behaviour (it generates a UUID): the stand-in's
		// simulated hardware UUID, see collectHostInfo.
		h.UUID = readTrim("/etc/machine-id")
		if h.UUID == "" {
			h.UUID = readTrim("/var/lib/dbus/machine-id")
		}
	}
	if h.UUID != "" {
		h.UUID = formatUUID(h.UUID)
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if ok && strings.TrimSpace(k) == "model name" {
				h.CPUBrand = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 2 && fields[0] == "MemTotal:" {
				if kb, err := strconv.ParseUint(fields[1], 10, 64); err == nil {
					h.PhysicalMemory = strconv.FormatUint(kb*1024, 10)
				}
				break
			}
		}
		f.Close()
	}
	osr := map[string]string{}
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
			if ok {
				osr[k] = strings.Trim(v, `"'`)
			}
		}
		break
	}
	h.OSName = osr["NAME"]
	if h.OSName == "" {
		h.OSName = "Linux"
	}
	h.OSVersion = osr["VERSION"]
	if h.OSVersion == "" {
		h.OSVersion = osr["VERSION_ID"]
	}
	h.OSMajor, h.OSMinor, h.OSPatch = splitVersion(osr["VERSION_ID"])
	h.OSPlatform = osr["ID"]
	if h.OSPlatform == "" {
		h.OSPlatform = "linux"
	}
	h.OSPlatformLike = osr["ID_LIKE"]
	h.OSCodename = osr["VERSION_CODENAME"]
	return h
}
