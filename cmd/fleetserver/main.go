// Command fleetserver runs the in-memory Fleet test server (package fleettest)
// on 127.0.0.1 for `make demo` and manual testing. Control it at runtime
// through its /_admin/ endpoint (see fleettest/doc.go), for example to queue
// a software install:
//
//	POST /_admin/software_installers     {"filename":"x.deb","package":"<base64>","install_script":"..."}
//	POST /_admin/hosts/software_installs {"hardware_uuid":"...","installer_id":1}
//	GET  /_admin/software_installs/results
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/orbitagent/orbit/fleettest"
	"github.com/orbitagent/orbit/internal/safefile"
)

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "fleetserver:", err)
		os.Exit(1)
	}
}

func newApp() *cli.App {
	return &cli.App{
		Name:  "fleetserver",
		Usage: "run an in-memory Fleet server on 127.0.0.1 (Orbit, osquery TLS and device APIs)",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "port", Value: 8080, Usage: "TCP port on 127.0.0.1 (0 picks a free one)", EnvVars: []string{"FLEETSERVER_PORT"}},
			&cli.StringFlag{Name: "enroll-secret", Usage: "enroll secret hosts must present (required)", EnvVars: []string{"FLEETSERVER_ENROLL_SECRET"}},
			&cli.StringFlag{Name: "ca-file", Value: "fleetserver-ca.pem", Usage: "where to write the CA certificate (PEM) that clients must trust", EnvVars: []string{"FLEETSERVER_CA_FILE"}},
			&cli.StringFlag{Name: "url-file", Usage: "also write the server URL to this file (for scripts)"},
			&cli.BoolFlag{Name: "insecure-http", Usage: "serve plain HTTP instead of HTTPS (osqueryd needs HTTPS)"},
			&cli.StringFlag{Name: "startup-flags", Usage: `JSON object for command_line_startup_flags, e.g. '{"distributed_interval":10}'`},
			&cli.StringFlag{Name: "update-channels", Usage: "orbit,osqueryd,desktop channels for update_channels, e.g. stable,stable,stable"},
			&cli.StringFlag{Name: "capabilities", Value: fleettest.DefaultCapabilities, Usage: "X-Fleet-Capabilities the server announces"},
			&cli.BoolFlag{Name: "allow-unknown-fields", Usage: "accept unknown JSON fields on the Orbit API like Fleet (default: 400)"},
			&cli.BoolFlag{Name: "require-end-user-auth", Usage: "answer END_USER_AUTH_REQUIRED to new hosts until POST /_admin/end_user_auth/complete"},
			&cli.BoolFlag{Name: "debug", Usage: "log every request to stderr"},
		},
		Action: run,
	}
}

func run(c *cli.Context) error {
	secret := c.String("enroll-secret")
	if secret == "" {
		return errors.New("--enroll-secret (or FLEETSERVER_ENROLL_SECRET) is required")
	}
	port := c.Int("port")
	if port < 0 || port > 65535 {
		return fmt.Errorf("--port %d is out of range: use 0..65535", port)
	}
	level := zerolog.InfoLevel
	if c.Bool("debug") {
		level = zerolog.DebugLevel
	}
	// Colours only on a terminal: demo scripts send this log to a file.
	out := zerolog.ConsoleWriter{Out: os.Stderr, NoColor: !isatty.IsTerminal(os.Stderr.Fd())}
	logger := zerolog.New(out).Level(level).With().Timestamp().Logger()

	srv := fleettest.New(fleettest.Config{
		EnrollSecrets:      []string{secret},
		TLS:                !c.Bool("insecure-http"),
		Addr:               net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		AllowUnknownFields: c.Bool("allow-unknown-fields"),
		Logger:             logger,
	})
	srv.SetCapabilities(c.String("capabilities"))
	srv.RequireEndUserAuth("", c.Bool("require-end-user-auth"))
	if raw := c.String("startup-flags"); raw != "" {
		var flags map[string]any
		if err := json.Unmarshal([]byte(raw), &flags); err != nil {
			return fmt.Errorf("--startup-flags must be a JSON object: %w", err)
		}
		if err := srv.SetStartupFlags(flags); err != nil {
			return fmt.Errorf("--startup-flags: %w", err)
		}
	}
	if ch := c.String("update-channels"); ch != "" {
		parts := strings.Split(ch, ",")
		if len(parts) != 3 {
			return fmt.Errorf("--update-channels %q: want three comma-separated channels orbit,osqueryd,desktop", ch)
		}
		srv.SetUpdateChannels(parts[0], parts[1], parts[2])
	}

	// Catch signals before the URL is printed: a script may signal as soon
	// as it has read it.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Start(); err != nil {
		return err
	}
	defer srv.Close()

	if pemBytes := srv.CACertPEM(); pemBytes != nil {
		path := c.String("ca-file")
		if err := writeFile(path, pemBytes); err != nil {
			return fmt.Errorf("write CA certificate (check --ca-file): %w", err)
		}
		abs, _ := filepath.Abs(path)
		logger.Info().Str("ca_file", abs).Msg("wrote CA certificate")
	}
	if path := c.String("url-file"); path != "" {
		if err := writeFile(path, []byte(srv.URL()+"\n")); err != nil {
			return fmt.Errorf("write URL (check --url-file): %w", err)
		}
	}
	// stdout carries only the URL so scripts can read it.
	fmt.Println(srv.URL())
	logger.Info().Str("url", srv.URL()).Msg("fleet test server listening")

	<-ctx.Done()
	logger.Info().Msg("stopping")
	return nil
}

// writeFile writes atomically so a script never reads a partial file.
func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return safefile.WriteAtomic(path, data, 0o644)
}
