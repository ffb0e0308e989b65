//go:build !linux && !darwin && !windows

package main

func platformHostInfo() hostInfo { return hostInfo{} }
