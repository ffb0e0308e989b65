package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
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
	listener net.Listener
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

const instanceIDFile = "standin_instance_id"

// loadInstanceID keeps osquery's per-database instance id in the database
// directory, creating one if needed; without a database it is per run.
func loadInstanceID(fs *flagSet) string {
	dir := fs.String("database_path")
	if fs.IsSet("database_path") && dir != "" {
		if b, err := os.ReadFile(filepath.Join(dir, instanceIDFile)); err == nil {
			if id := strings.TrimSpace(string(b)); id != "" {
				return id
			}
		}
	}
	id := newUUID()
	if fs.IsSet("database_path") && dir != "" {
		_ = os.WriteFile(filepath.Join(dir, instanceIDFile), []byte(id), 0o600)
	}
	return id
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
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

	select {
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

// setup creates the database directory, pidfile and extensions socket.
// Only paths given explicitly are touched, so a stray run never writes to
// osquery's default locations on the test machine.
func (d *daemon) setup() int {
	fs := d.fs
	if fs.IsSet("database_path") && fs.String("database_path") != "" && !fs.Bool("disable_database") {
		db := fs.String("database_path")
		if err := os.MkdirAll(db, 0o700); err != nil {
			d.log.Error("cannot create database directory", "path", db, "err", err)
			return exitCatastrophic
		}
		unlock, err := lockDatabase(db)
		if err != nil {
			d.log.Error("Rocksdb open failed: database is locked by another osqueryd", "path", db, "err", err)
			return exitCatastrophic
		}
		d.dbUnlock = unlock
	}
	d.env = newQueryEnv(fs, loadInstanceID(fs))
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
		p := fs.String("extensions_socket")
		// A socket left by a crashed run is stale: osquery replaces it.
		_ = os.Remove(p)
		l, err := net.Listen("unix", p)
		if err != nil {
			// osqueryd keeps running without its extension manager.
			d.log.Warn("cannot start extension manager", "path", p, "err", err)
		} else {
			d.listener = l
			d.socket = p
			d.env.extensions = "active"
			go serveExtensions(l)
		}
	}
	return exitSuccess
}

// serveExtensions accepts and drains connections; the stand-in speaks no
// Thrift, but clients can see the socket is alive.
func serveExtensions(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_, _ = io.Copy(io.Discard, io.LimitReader(c, 1<<20))
		}()
	}
}

func (d *daemon) cleanup() {
	if d.listener != nil {
		if ul, ok := d.listener.(*net.UnixListener); ok {
			// We remove the file ourselves, below.
			ul.SetUnlinkOnClose(false)
		}
		d.listener.Close()
	}
	if d.socket != "" {
		_ = os.Remove(d.socket)
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
		return d.env.host().UUID
	case "instance":
		return d.env.instanceID
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
	d.autoloadExtensions(ctx, wg)
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
