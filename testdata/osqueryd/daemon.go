package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// daemon is one osqueryd run: its flags, switches and what it created and
// must remove on a clean exit.
type daemon struct {
	fs     *flagSet
	sw     switches
	log    *logger
	env    *queryEnv
	stderr io.Writer

	pidfile  string
	socket   string
	ext      *extManager
	dbUnlock func()

	// hostIdentifier is computed once, as osquery does at start.
	hostIdentifier string

	// fatalCh carries an exit code from a worker that cannot go on (e.g.
	// failed enrollment with the tls config plugin).
	fatalCh chan int

	extMu    sync.Mutex
	extProcs []*os.Process
}

func (d *daemon) fatal(code int) {
	select {
	case d.fatalCh <- code:
	default:
	}
}

// scaled shrinks a configured interval by OSQUERYD_STANDIN_INTERVAL_SCALE
// (tests use e.g. 0.01), never below a millisecond.
func (d *daemon) scaled(secs int64) time.Duration {
	dur := time.Duration(float64(secs) * d.sw.intervalScale * float64(time.Second))
	return max(dur, time.Millisecond)
}

func runDaemon(fs *flagSet, sw switches, stderr io.Writer) int {
	if sw.exitCodeSet && sw.crashAfter == 0 {
		fmt.Fprintf(stderr, "osqueryd stand-in: OSQUERYD_STANDIN_EXIT_CODE=%d: exiting at start\n", sw.exitCode)
		return sw.exitCode
	}
	d := &daemon{fs: fs, sw: sw, stderr: stderr, log: newLogger(stderr, fs.Bool("verbose")), fatalCh: make(chan int, 1)}

	// Signals first, so a SIGTERM that arrives while we start is not lost.
	sigs := make(chan os.Signal, 4)
	if sw.ignoreSIGTERM {
		signal.Ignore(syscall.SIGTERM, syscall.SIGINT)
	} else {
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	}
	signal.Ignore(syscall.SIGHUP)
	wedgeSigs := make(chan os.Signal, 1)
	if s := wedgeSignal(); s != nil {
		signal.Notify(wedgeSigs, s)
	}

	if code := d.setup(); code != exitSuccess {
		d.cleanup()
		return code
	}

	crash := make(<-chan time.Time)
	if sw.crashAfter > 0 {
		crash = time.After(sw.crashAfter)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if !sw.hang {
		d.startWorkers(ctx, &wg)
	}

	for {
		select {
		case <-wedgeSigs:
			if d.ext != nil {
				d.ext.wedge()
			}
			continue
		case s := <-sigs:
			d.log.Info("osqueryd stopping on signal", "signal", s)
			cancel()
			wg.Wait()
			d.cleanup()
			return exitSuccess
		case code := <-d.fatalCh:
			cancel()
			wg.Wait()
			d.cleanup()
			return code
		case <-crash:
			// A crash leaves pidfile and socket behind, as a real crash does.
			fmt.Fprintf(stderr, "osqueryd stand-in: OSQUERYD_STANDIN_CRASH_AFTER_MS reached: exiting with %d\n", sw.exitCode)
			// Extensions die with their osqueryd (they lose the socket);
			// killing them keeps crash tests from leaking processes.
			d.extMu.Lock()
			for _, p := range d.extProcs {
				_ = p.Kill()
			}
			d.extMu.Unlock()
			cancel()
			return sw.exitCode
		}
	}
}

// setup creates the database directory, pidfile and extensions socket.
// Only paths given explicitly are touched, so a stray run never writes to
// osquery's default locations on the test machine.
func (d *daemon) setup() int {
	fs := d.fs
	if db := databaseDir(fs); db != "" {
		unlock, err := openDatabase(db, true, d.sw.intervalScale)
		if err != nil {
			// The worker exits 78 and its watcher with it; without a
			// watchdog osqueryd itself exits 1 (osquery's Initializer::start).
			d.log.Error("Rocksdb open failed", "path", db, "err", err)
			if fs.Bool("disable_watchdog") {
				return exitFailure
			}
			return exitCatastrophic
		}
		d.dbUnlock = unlock
	}
	d.env = newQueryEnv(fs, newIdentity(databaseDir(fs), d.sw, hostHardwareUUID))
	d.hostIdentifier = d.computeHostIdentifier()

	if fs.IsSet("pidfile") && fs.String("pidfile") != "" {
		p := fs.String("pidfile")
		if pid, running := otherRunningPid(p); running && !fs.Bool("force") {
			d.log.Error("Pidfile::Error: osqueryd is already running", "pid", pid)
			return exitFailure
		}
		if err := os.WriteFile(p, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			d.log.Error("cannot write pidfile", "path", p, "err", err)
			return exitFailure
		}
		d.pidfile = p
	}
	if d.sw.hang {
		return exitSuccess
	}
	if fs.IsSet("extensions_socket") && fs.String("extensions_socket") != "" && !fs.Bool("disable_extensions") {
		d.socket = fs.String("extensions_socket")
		d.ext = newExtManager(d, d.socket)
		d.env.ext = d.ext
	}
	return exitSuccess
}

func (d *daemon) cleanup() {
	if d.ext != nil {
		d.ext.removeFiles()
	}
	if d.pidfile != "" {
		// Only remove a pidfile that is still ours.
		if b, err := os.ReadFile(d.pidfile); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()) {
			_ = os.Remove(d.pidfile)
		}
	}
	if d.dbUnlock != nil {
		d.dbUnlock()
	}
}

func (d *daemon) computeHostIdentifier() string {
	switch d.fs.String("host_identifier") {
	case "uuid":
		return d.env.id.hostUUID()
	case "instance":
		return d.env.id.instanceID()
	case "ephemeral":
		return newUUID()
	case "specified":
		return d.fs.String("specified_identifier")
	default:
		return d.env.host().Hostname
	}
}

func (d *daemon) startWorkers(ctx context.Context, wg *sync.WaitGroup) {
	fs := d.fs
	var tl *tlsLogger
	if hasPlugin(fs.String("logger_plugin"), "tls") {
		tl = newTLSLogger(d)
	}
	sinks := d.newSinks(tl)
	d.log.addSink(sinks.status)
	sched := newScheduler(d, sinks)
	useTLS := fs.String("config_plugin") == "tls" || tl != nil ||
		(!fs.Bool("disable_distributed") && fs.String("distributed_plugin") == "tls" && fs.String("tls_hostname") != "")
	if useTLS {
		// Enrollment may take a while; the daemon is already up.
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.startTLS(ctx, wg, sched, tl); err != nil {
				d.log.Error("cannot start the TLS plugins", "err", err)
				if fs.String("config_plugin") == "tls" {
					d.fatal(exitCatastrophic)
				}
			}
		}()
	}
	if fs.String("config_plugin") == "filesystem" && fs.IsSet("config_path") {
		d.startFilesystem(ctx, wg, sched)
	}
	if d.ext != nil {
		// Listens (after OSQUERYD_STANDIN_SOCKET_DELAY_MS), then autoloads.
		d.ext.start(ctx, wg)
	}
}

func hasPlugin(list, name string) bool {
	for _, p := range strings.Split(list, ",") {
		if strings.TrimSpace(p) == name {
			return true
		}
	}
	return false
}

var errNoTLSHost = errors.New("--tls_hostname is empty: set it to the Fleet server's host:port")
