package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/orbitagent/orbit/packaging/packager"
	"github.com/orbitagent/orbit/supervisor"
)

// agentEnv is the variable of a flag that is one of orbit's own settings:
// orbit's own name for it (ORBIT_FLEET_URL), so an admin's environment
// means the same to both.
func agentEnv(flag string) []string {
	return []string{"ORBIT_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))}
}

// packageEnv is the variable of a flag about the package itself
// (ORBIT_PACKAGE_TYPE): orbit has no such setting, or, for the --*-path
// flags, means something else by it.
func packageEnv(flag string) []string {
	return []string{"ORBIT_PACKAGE_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))}
}

func packageFlags() []cli.Flag {
	// a is a flag that is one of orbit's settings, p one about the package.
	str := func(env func(string) []string) func(name, usage string, value ...string) *cli.StringFlag {
		return func(name, usage string, value ...string) *cli.StringFlag {
			f := &cli.StringFlag{Name: name, Usage: usage, EnvVars: env(name)}
			if len(value) > 0 {
				f.Value = value[0]
			}
			return f
		}
	}
	a, p := str(agentEnv), str(packageEnv)
	b := func(name, usage string) *cli.BoolFlag {
		return &cli.BoolFlag{Name: name, EnvVars: agentEnv(name), Usage: usage}
	}
	return []cli.Flag{
		p("type", "package type: deb, rpm, pkg (macOS) or msi (Windows)"),
		p("arch", "architecture: amd64 or arm64", "amd64"),
		p("identifier", "reverse-DNS name: the launchd label, the pkg identifier, the seed of the msi's codes", supervisor.DefaultIdentifier),
		p("version", "the package's version, X.Y.Z (default: the bundled orbit's)"),
		a("fleet-url", "Fleet server URL (https://host[:port])"),
		a("enroll-secret", "enroll secret (prefer --enroll-secret-path or ORBIT_ENROLL_SECRET: argv is visible to local users)"),
		a("enroll-secret-path", "file holding the enroll secret"),
		a("fleet-certificate", "CA bundle (PEM) that signs the Fleet server's certificate; bundled"),
		b("insecure", "agents do not verify the Fleet server's TLS certificate (testing only)"),
		a("update-url", "TUF repository the agents update from (and the components come from); required with updates"),
		a("update-roots", "trusted TUF root: JSON inline or a path to root.json (default with --local-repo: its root.json)"),
		a("orbit-channel", "update channel of orbit", "stable"),
		a("osqueryd-channel", "update channel of osqueryd", "stable"),
		a("desktop-channel", "update channel of the tray app", "stable"),
		b("disable-updates", "agents never update; they run what the package bundles"),
		&cli.DurationFlag{Name: "update-interval", EnvVars: agentEnv("update-interval"), Usage: "how often the agents check for updates (0: orbit's default, 15m)"},
		b("fleet-desktop", "bundle and run the tray app (Fleet Desktop)"),
		b("enable-scripts", "agents run scripts sent by the Fleet server"),
		p("osquery-flagfile", "osqueryd flagfile to bundle (in Fleet mode the server's startup flags replace it)"),
		p("osquery-config", "standalone mode: an osquery config with its packs, bundled; no Fleet"),
		p("output", "the package file (default: a name of the format's kind here)"),
		p("local-repo", "take the components from this repository directory (made by orbitctl updates) instead of --update-url"),
		p("orbit-path", "bundle this orbit instead of the repository's"),
		p("osqueryd-path", "bundle this osqueryd (macOS: osqueryd.app.tar.gz) instead of the repository's"),
		p("desktop-path", "bundle this tray app (desktop.tar.gz, fleet-desktop.exe, desktop.app.tar.gz) instead of the repository's"),
		p("sign-key", "OpenPGP secret key to sign a deb or rpm with (passphrase in ORBIT_SIGN_PASSPHRASE)"),
		p("authenticode-cert", "PEM certificate chain to sign orbit.exe and the msi with"),
		p("authenticode-key", "PEM private key of --authenticode-cert"),
	}
}

// sourceDateEpoch is the build time reproducible builds agree on; without
// it, now.
func sourceDateEpoch() (time.Time, error) {
	v, ok := os.LookupEnv("SOURCE_DATE_EPOCH")
	if !ok || v == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q must be a number of seconds since 1970", v)
	}
	return time.Unix(n, 0).UTC(), nil
}

func packageCommand() *cli.Command {
	return &cli.Command{
		Name:  "package",
		Usage: "build a deb, rpm, pkg or msi of the agent, bundling its components from the update repository",
		Flags: packageFlags(),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("package takes no arguments (got %q): give everything as flags", c.Args().First())
			}
			if !c.IsSet("type") {
				return errors.New("--type is required: deb, rpm, pkg or msi")
			}
			when, err := sourceDateEpoch()
			if err != nil {
				return err
			}
			secret := c.String("enroll-secret")
			if secret != "" && os.Getenv(agentEnv("enroll-secret")[0]) != secret {
				fmt.Fprintln(c.App.ErrWriter, "orbitctl: warning: the enroll secret was given on the command line, where local users can read it; use --enroll-secret-path or ORBIT_ENROLL_SECRET")
			}
			res, err := packager.Build(c.Context, packager.Options{
				Type: c.String("type"), Arch: c.String("arch"), Identifier: c.String("identifier"), Version: c.String("version"),
				FleetURL: c.String("fleet-url"), EnrollSecret: secret, EnrollSecretPath: c.String("enroll-secret-path"),
				FleetCertificate: c.String("fleet-certificate"), Insecure: c.Bool("insecure"),
				UpdateURL: c.String("update-url"), UpdateRoots: c.String("update-roots"),
				OrbitChannel: c.String("orbit-channel"), OsquerydChannel: c.String("osqueryd-channel"), DesktopChannel: c.String("desktop-channel"),
				DisableUpdates: c.Bool("disable-updates"), UpdateInterval: c.Duration("update-interval"),
				FleetDesktop: c.Bool("fleet-desktop"), EnableScripts: c.Bool("enable-scripts"),
				OsqueryFlagfile: c.String("osquery-flagfile"), OsqueryConfig: c.String("osquery-config"),
				Output: c.String("output"), LocalRepo: c.String("local-repo"),
				OrbitPath: c.String("orbit-path"), OsquerydPath: c.String("osqueryd-path"), DesktopPath: c.String("desktop-path"),
				SignKey: c.String("sign-key"), AuthenticodeCert: c.String("authenticode-cert"), AuthenticodeKey: c.String("authenticode-key"),
				ModTime: when, Progress: c.App.ErrWriter,
			})
			if err != nil {
				return err
			}
			for _, b := range res.Components {
				v := b.Version
				if v == "" {
					v = "-"
				}
				fmt.Fprintf(c.App.ErrWriter, "bundled %s %s (%.1f MiB, from %s)\n", b.Target, v, float64(b.Length)/(1<<20), b.Source)
			}
			fmt.Fprintf(c.App.Writer, "%s\n", res.Path)
			fmt.Fprintf(c.App.ErrWriter, "built %s: %s %s, version %s, %.1f MiB\n", res.Path, res.Type, res.Arch, res.Version, float64(res.Size)/(1<<20))
			return nil
		},
	}
}
