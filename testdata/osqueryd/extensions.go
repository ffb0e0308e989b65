package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// autoloadExtensions starts each binary listed in --extensions_autoload the
// way osqueryd does: "<path> --socket S --timeout T --interval I
// [--verbose]". Like osqueryd it skips files not ending in ".ext" and
// world-writable files. Extensions are stopped when the daemon stops.
func (d *daemon) autoloadExtensions(ctx context.Context, wg *sync.WaitGroup, socket string) {
	list := d.fs.String("extensions_autoload")
	if list == "" {
		return
	}
	f, err := os.Open(list)
	if err != nil {
		d.log.Warn("cannot read extensions_autoload file", "path", list, "err", err)
		return
	}
	var paths []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		paths = append(paths, line)
	}
	f.Close()
	for _, p := range paths {
		if !strings.HasSuffix(p, ".ext") {
			d.log.Warn("will not autoload extension binary that does not end with .ext", "path", p)
			continue
		}
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() {
			d.log.Warn("cannot autoload missing extension", "path", p)
			continue
		}
		if fi.Mode().Perm()&0o002 != 0 {
			d.log.Warn("will not autoload extension with unsafe permissions", "path", p)
			continue
		}
		args := []string{"--socket", socket, "--timeout", d.fs.String("extensions_timeout"),
			"--interval", d.fs.String("extensions_interval")}
		if d.fs.Bool("verbose") {
			args = append(args, "--verbose")
		}
		cmd := exec.Command(p, args...)
		cmd.Stdout, cmd.Stderr = d.stderr, d.stderr
		cmd.SysProcAttr = extSysProcAttr()
		if err := cmd.Start(); err != nil {
			d.log.Warn("cannot start extension", "path", p, "err", err)
			continue
		}
		d.log.Info("extension started", "path", p, "pid", cmd.Process.Pid)
		d.extMu.Lock()
		d.extProcs = append(d.extProcs, cmd.Process)
		d.extMu.Unlock()
		done := make(chan struct{})
		go func() {
			_ = cmd.Wait()
			close(done)
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-done:
				d.log.Warn("extension exited", "path", p)
			case <-ctx.Done():
				stopProcess(cmd.Process)
				select {
				case <-done:
				case <-time.After(3 * time.Second):
					_ = cmd.Process.Kill()
					<-done
				}
			}
		}()
	}
}
