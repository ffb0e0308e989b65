//go:build !linux

package main

import "syscall"

func extSysProcAttr() *syscall.SysProcAttr { return nil }
