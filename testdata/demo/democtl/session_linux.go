package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/orbitagent/orbit/desktop/desktoptest"
)

// session is a stand-in for a user's graphical login, run as that user:
// their private session bus (dbus-daemon) on --bus-socket, a compositor's
// socket at --wayland (nothing draws: the socket is what tells a
// graphical session from an ssh login) and a panel's
// StatusNotifierWatcher, until SIGTERM or SIGINT. It prints the bus
// address once all three are up.
func session(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("session", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	socket := fs.String("bus-socket", "", "path of the session bus's socket, in the user's runtime directory")
	wayland := fs.String("wayland", "", "path of the compositor stand-in's socket (wayland-0)")
	if err := fs.Parse(args); err != nil || *socket == "" || *wayland == "" || fs.NArg() != 0 {
		return errors.New("usage: democtl session --bus-socket PATH --wayland PATH")
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)

	// The bus dies with this process, even when it is killed with SIGKILL.
	bus, err := desktoptest.LaunchBus(*socket, &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL})
	if err != nil {
		return err
	}
	defer bus.Kill()
	l, err := net.Listen("unix", *wayland)
	if err != nil {
		return fmt.Errorf("compositor stand-in socket: %w", err)
	}
	defer l.Close()
	w, err := desktoptest.NewWatcher(bus.Address)
	if err != nil {
		return err
	}
	defer w.Close()
	fmt.Fprintf(stdout, "session bus %s pid %d, StatusNotifierWatcher up, compositor socket %s\n", bus.Address, bus.Pid(), *wayland)
	<-stop
	return nil
}
