package main

import "syscall"

// extSysProcAttr makes an extension die with the daemon even when the
// daemon is killed, as real extensions do when their socket goes away.
func extSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
