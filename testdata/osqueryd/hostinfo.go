package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// hostInfo is what the system_info and os_version tables report. Each
// platform file fills what it can read without privileges or external tools.
type hostInfo struct {
	UUID            string
	HardwareSerial  string
	HardwareVendor  string
	HardwareModel   string
	HardwareVersion string
	BoardVendor     string
	BoardModel      string
	BoardVersion    string
	BoardSerial     string
	Hostname        string
	ComputerName    string
	CPUBrand        string
	CPUType         string
	PhysicalMemory  string

	OSName         string
	OSVersion      string
	OSMajor        string
	OSMinor        string
	OSPatch        string
	OSBuild        string
	OSPlatform     string
	OSPlatformLike string
	OSCodename     string
}

func collectHostInfo() hostInfo {
	h := platformHostInfo()
	if h.Hostname == "" {
		h.Hostname, _ = os.Hostname()
	}
	if h.ComputerName == "" {
		h.ComputerName = h.Hostname
	}
	if h.UUID == "" {
		// The stand-in's simulated hardware UUID on hosts without one (no
		// DMI, no machine-id), so runs agree on a test machine. Real
		// osquery generates a random UUID there and keeps it in its
		// database: OSQUERYD_STANDIN_NO_HARDWARE_UUID=1 does the same.
		sum := sha256.Sum256([]byte("osqueryd-standin:" + h.Hostname))
		h.UUID = formatUUID(hex.EncodeToString(sum[:16]))
	}
	if h.CPUType == "" {
		h.CPUType = cpuType()
	}
	if h.OSPlatform == "" {
		h.OSPlatform = runtime.GOOS
	}
	return h
}

func cpuType() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "arm64e"
	case "386":
		return "i686"
	}
	return runtime.GOARCH
}

func osArch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		if runtime.GOOS == "linux" {
			return "aarch64"
		}
		return "arm64"
	}
	return runtime.GOARCH
}

// formatUUID turns 32 hex digits (any case, dashes allowed) into the
// upper-case 8-4-4-4-12 form osquery reports; other input is returned as is.
func formatUUID(s string) string {
	hexOnly := strings.ReplaceAll(strings.TrimSpace(s), "-", "")
	if len(hexOnly) != 32 {
		return strings.ToUpper(strings.TrimSpace(s))
	}
	if _, err := hex.DecodeString(hexOnly); err != nil {
		return strings.ToUpper(strings.TrimSpace(s))
	}
	u := strings.ToUpper(hexOnly)
	return fmt.Sprintf("%s-%s-%s-%s-%s", u[0:8], u[8:12], u[12:16], u[16:20], u[20:32])
}

// splitVersion fills major/minor/patch from a dotted version string, keeping
// each part's leading digits ("3rc1" -> "3"), as osquery does.
func splitVersion(v string) (major, minor, patch string) {
	out := []string{"0", "0", "0"}
	for i, part := range strings.SplitN(v, ".", 4) {
		if i >= 3 {
			break
		}
		end := 0
		for end < len(part) && part[end] >= '0' && part[end] <= '9' {
			end++
		}
		if n, err := strconv.Atoi(part[:end]); err == nil {
			out[i] = strconv.Itoa(n)
		}
	}
	return out[0], out[1], out[2]
}
