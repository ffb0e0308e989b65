package fleet

import (
	"context"
	"os/exec"
	"regexp"
	"time"
)

var ioregField = regexp.MustCompile(`"(IOPlatformUUID|IOPlatformSerialNumber|model)" = <?"([^"]*)"`)

func platformHostInfo() HostInfo {
	h := HostInfo{Platform: "darwin"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/sbin/ioreg", "-rd1", "-c", "IOPlatformExpertDevice").Output()
	if err != nil {
		return h
	}
	for _, m := range ioregField.FindAllStringSubmatch(string(out), -1) {
		switch m[1] {
		case "IOPlatformUUID":
			h.HardwareUUID = m[2]
		case "IOPlatformSerialNumber":
			h.HardwareSerial = m[2]
		case "model":
			h.HardwareModel = m[2]
		}
	}
	return h
}
