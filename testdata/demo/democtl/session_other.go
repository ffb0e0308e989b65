//go:build !linux

package main

import (
	"errors"
	"io"
)

func session([]string, io.Writer) error {
	return errors.New("democtl session runs a Linux desktop session (dbus-daemon): Linux only")
}
