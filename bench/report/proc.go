//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

func numCPU() int { return runtime.NumCPU() }

// cpuTime is a process's CPU time so far (user and system, every thread,
// those that ended too), read from its POSIX process CPU clock, which
// Linux lets any process read: nanoseconds, where /proc/<pid>/stat counts
// 10 ms ticks and a 30 s idle window holds only a handful of them.
func cpuTime(pid int) (time.Duration, error) {
	var ts unix.Timespec
	// MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED) of the kernel's
	// posix-timers.h, as glibc's clock_getcpuclockid makes it.
	clk := int32((^pid)<<3 | 2)
	if err := unix.ClockGettime(clk, &ts); err != nil {
		return 0, fmt.Errorf("CPU clock of pid %d: %w", pid, err)
	}
	return time.Duration(ts.Nano()), nil
}

// statusKiB reads one "Vm..." field (in kB) of /proc/<pid>/status.
func statusKiB(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// rssMiB is a process's resident memory now.
func rssMiB(pid int) (float64, error) {
	k, err := statusKiB(pid, "VmRSS")
	return float64(k) / 1024, err
}

// pidfd is a handle on a process that is not our child: it tells exactly
// when the process ends (no polling of kill(pid, 0)).
type pidfd int

func openPidfd(pid int) (pidfd, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	return pidfd(fd), nil
}

// wait returns when the process has exited, or an error after timeout.
func (p pidfd) wait(timeout time.Duration) error {
	fds := []unix.PollFd{{Fd: int32(p), Events: unix.POLLIN}}
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return errors.New("process still running")
		}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
	}
}

func (p pidfd) close() { unix.Close(int(p)) }

// standinStart is one line of the stand-in osqueryd's
// OSQUERYD_STANDIN_RECORD file: a start, with its pid and the time its
// main began.
type standinStart struct {
	Argv []string  `json:"argv"`
	Pid  int       `json:"pid"`
	Time time.Time `json:"time"`
}

// daemon says whether the start ran the daemon, not a --version probe or
// an -S query.
func (s standinStart) daemon() bool {
	for _, a := range s.Argv[1:] {
		switch a {
		case "--version", "-S", "--S":
			return false
		}
	}
	return true
}

// daemonStarts reads the record file's daemon starts, oldest first.
func daemonStarts(path string) ([]standinStart, error) {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var out []standinStart
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var s standinStart
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			// A line being written: read again later.
			break
		}
		if len(s.Argv) > 0 && s.daemon() {
			out = append(out, s)
		}
	}
	return out, nil
}

// loadAvg is the 1-minute load average: how busy the machine was, which
// the reader needs to judge the timings.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}
