//go:build !linux && !darwin && !windows

package fleet

func platformHostInfo() HostInfo { return HostInfo{} }
