package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/orbitagent/orbit/internal/safefile"
	"github.com/orbitagent/orbit/updater/repo"
	"github.com/orbitagent/orbit/updater/repo/s3store"
)

// maxTrustedRoot caps the root.json given to verify: a root with many
// keys is a few KiB.
const maxTrustedRoot = 512 << 10

var (
	pathFlag = &cli.StringFlag{Name: "path", Value: ".", Usage: "repository directory (holds keys/ and repository/)", EnvVars: []string{"ORBIT_TUF_PATH"}}
	jsonFlag = &cli.BoolFlag{Name: "json", Usage: "print JSON"}
)

func expiryFlags(roles ...string) []cli.Flag {
	var fs []cli.Flag
	for _, r := range roles {
		fs = append(fs, &cli.StringFlag{Name: r + "-expires", Usage: "lifetime of newly signed " + r + " metadata: a Go duration (720h) or days (30d, 30)"})
	}
	return fs
}

// maxLifetimeDays bounds a metadata lifetime: 100 years, far more than any
// role needs, and far from where days turned into a time.Duration
// overflow (about 106,751 days) and wrap to a value the repository would
// silently replace with its default.
const maxLifetimeDays = 36500

// parseLifetime accepts a Go duration, "Nd" or a bare number of days.
func parseLifetime(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	invalid := fmt.Errorf("invalid lifetime %q: use a Go duration like 720h or days like 30d, at most %dd", s, maxLifetimeDays)
	if n, err := strconv.ParseInt(strings.TrimSuffix(s, "d"), 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if err != nil || n <= 0 || n > maxLifetimeDays {
			return 0, invalid
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > maxLifetimeDays*24*time.Hour {
		return 0, invalid
	}
	return d, nil
}

func expiries(c *cli.Context) (repo.Expiries, error) {
	var e repo.Expiries
	for role, dst := range map[string]*time.Duration{"root": &e.Root, "targets": &e.Targets, "snapshot": &e.Snapshot, "timestamp": &e.Timestamp} {
		if !c.IsSet(role + "-expires") {
			continue
		}
		d, err := parseLifetime(c.String(role + "-expires"))
		if err != nil {
			return e, fmt.Errorf("--%s-expires: %w", role, err)
		}
		*dst = d
	}
	return e, nil
}

// passphrases asks the environment, then the terminal; a signal (ctx)
// ends a prompt.
func passphrases(ctx context.Context) repo.Passphrases {
	return repo.ChainPassphrases{repo.EnvPassphrases{}, repo.TerminalPassphrases{In: os.Stdin, Out: os.Stderr, Context: ctx}}
}

func openRepo(c *cli.Context) (*repo.Repo, error) {
	exp, err := expiries(c)
	if err != nil {
		return nil, err
	}
	return repo.Open(c.String("path"), repo.OpenOptions{Passphrases: passphrases(c.Context), Expiries: exp, Progress: os.Stderr})
}

// withRepoReadOnly opens the repository for a command that only reads it
// (status, roots), without waiting for an editor's lock.
func withRepoReadOnly(fn func(c *cli.Context, r *repo.Repo) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		r, err := repo.OpenReadOnly(c.String("path"), repo.OpenOptions{})
		if err != nil {
			return err
		}
		defer r.Close()
		return fn(c, r)
	}
}

// withRepo opens the repository for one command and always closes it.
func withRepo(fn func(c *cli.Context, r *repo.Repo) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		r, err := openRepo(c)
		if err != nil {
			return err
		}
		defer r.Close()
		return fn(c, r)
	}
}

// withTrailingFlags lets a command take its flags after its positional
// arguments too (`rotate ROLE --path X`): urfave/cli v2 stops parsing flags
// at the first positional argument, so the flags left among the arguments
// are applied here, before fn runs with the positional arguments alone.
func withTrailingFlags(fn func(c *cli.Context, args []string) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		args, help, err := applyTrailingFlags(c, c.Args().Slice())
		if err != nil {
			return err
		}
		if help {
			return cli.ShowSubcommandHelp(c)
		}
		return fn(c, args)
	}
}

// applyTrailingFlags sets the command's flags found in raw and returns the
// other arguments; everything after "--" is an argument.
func applyTrailingFlags(c *cli.Context, raw []string) (args []string, help bool, err error) {
	for i := 0; i < len(raw); i++ {
		a := raw[i]
		if a == "--" {
			return append(args, raw[i+1:]...), help, nil
		}
		if len(a) < 2 || a[0] != '-' {
			args = append(args, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name == "h" || name == "help" {
			help = true
			continue
		}
		f := commandFlag(c.Command, name)
		if f == nil {
			return nil, false, fmt.Errorf("flag provided but not defined: %s (see `orbitctl updates %s --help`)", a, c.Command.Name)
		}
		if !hasValue {
			if tv, ok := f.(cli.DocGenerationFlag); ok && !tv.TakesValue() {
				value = "true"
			} else {
				if i+1 >= len(raw) {
					return nil, false, fmt.Errorf("flag %s needs a value", a)
				}
				i++
				value = raw[i]
			}
		}
		if err := c.Set(name, value); err != nil {
			return nil, false, fmt.Errorf("invalid value %q for flag %s: %w", value, a, err)
		}
	}
	return args, help, nil
}

func commandFlag(cmd *cli.Command, name string) cli.Flag {
	if cmd == nil {
		return nil
	}
	for _, f := range cmd.Flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}

func updatesCommand(log zerolog.Logger) *cli.Command {
	return &cli.Command{
		Name:  "updates",
		Usage: "manage the TUF update repository",
		Subcommands: []*cli.Command{
			{
				Name:  "init",
				Usage: "create a repository with new ed25519 keys for root, targets, snapshot and timestamp",
				Flags: append([]cli.Flag{pathFlag,
					&cli.IntFlag{Name: "root-keys", Value: 1, Usage: "number of root keys"},
					&cli.IntFlag{Name: "root-threshold", Value: 1, Usage: "root signatures clients require"},
					&cli.BoolFlag{Name: "consistent-snapshot", Usage: "hash-prefixed targets and versioned metadata (off in Fleet's repositories)"},
				}, expiryFlags("root", "targets", "snapshot", "timestamp")...),
				Action: func(c *cli.Context) error {
					exp, err := expiries(c)
					if err != nil {
						return err
					}
					dir := c.String("path")
					if err := repo.Init(dir, repo.InitOptions{
						RootKeys: c.Int("root-keys"), RootThreshold: c.Int("root-threshold"),
						ConsistentSnapshot: c.Bool("consistent-snapshot"), Expiries: exp, Passphrases: passphrases(c.Context),
					}); err != nil {
						return err
					}
					log.Info().Str("path", dir).Int("root_keys", c.Int("root-keys")).Int("root_threshold", c.Int("root-threshold")).
						Bool("consistent_snapshot", c.Bool("consistent-snapshot")).Msg("repository initialized")
					fmt.Fprintf(c.App.Writer, "Initialized %s. Back up %s/keys offline and publish only %s/repository.\n", dir, dir, dir)
					return nil
				},
			},
			{
				Name:  "roots",
				Usage: "print root.json (to embed in packages)",
				Flags: []cli.Flag{pathFlag},
				Action: withRepoReadOnly(func(c *cli.Context, r *repo.Repo) error {
					b, err := r.RootJSON()
					if err != nil {
						return err
					}
					_, err = c.App.Writer.Write(b)
					return err
				}),
			},
			{
				Name:      "add",
				Usage:     "add a target under <name>/<platform>/<tag>/<file> for every tag and re-sign targets, snapshot and timestamp",
				ArgsUsage: " ",
				Flags: append([]cli.Flag{pathFlag,
					&cli.StringFlag{Name: "target", Required: true, Usage: "file to add"},
					&cli.StringFlag{Name: "name", Required: true, Usage: "component: orbit, osqueryd, desktop, extensions/<name>"},
					&cli.StringFlag{Name: "platform", Required: true, Usage: strings.Join(repo.Platforms, ", ")},
					&cli.StringFlag{Name: "version", Required: true, Usage: "semantic version X.Y.Z"},
					&cli.StringSliceFlag{Name: "tag", Aliases: []string{"t"}, Required: true, Usage: "channel (repeat): stable, edge, X.Y, X"},
					&cli.StringFlag{Name: "file-name", Usage: "published file name (default: base name of --target), e.g. orbit.exe, osqueryd.app.tar.gz"},
				}, expiryFlags("targets", "snapshot", "timestamp")...),
				Action: withRepo(func(c *cli.Context, r *repo.Repo) error {
					ctx := c.Context // cancelled by SIGINT and SIGTERM (main)
					t := repo.AddTarget{File: c.String("target"), Name: c.String("name"), Platform: c.String("platform"),
						Version: c.String("version"), Tags: c.StringSlice("tag"), FileName: c.String("file-name")}
					if err := r.AddTarget(ctx, t); err != nil {
						return err
					}
					log.Info().Str("name", t.Name).Str("platform", t.Platform).Str("version", t.Version).
						Strs("targets", t.TargetPaths()).Msg("target added")
					return nil
				}),
			},
			{
				Name:  "timestamp",
				Usage: "re-sign timestamp.json only (run from cron well within its lifetime)",
				Flags: append([]cli.Flag{pathFlag}, expiryFlags("timestamp")...),
				Action: withRepo(func(c *cli.Context, r *repo.Repo) error {
					if err := r.Timestamp(); err != nil {
						return err
					}
					log.Info().Msg("timestamp signed")
					return nil
				}),
			},
			{
				Name:      "rotate",
				Usage:     "replace a role's key; the new root is signed by old and new root keys",
				ArgsUsage: "ROLE (root, targets, snapshot or timestamp)",
				Flags:     append([]cli.Flag{pathFlag}, expiryFlags("root", "targets", "snapshot", "timestamp")...),
				Action: withTrailingFlags(func(c *cli.Context, args []string) error {
					if len(args) != 1 {
						return errors.New("rotate needs exactly one ROLE: root, targets, snapshot or timestamp")
					}
					r, err := openRepo(c)
					if err != nil {
						return err
					}
					defer r.Close()
					role := args[0]
					if err := r.Rotate(role); err != nil {
						return err
					}
					log.Info().Str("role", role).Msg("key rotated")
					return nil
				}),
			},
			{
				Name:  "status",
				Usage: "show roles, versions and expiries, and targets by component, platform and channel",
				Flags: []cli.Flag{pathFlag, jsonFlag},
				Action: withRepoReadOnly(func(c *cli.Context, r *repo.Repo) error {
					st, err := r.Status()
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return writeJSON(c.App.Writer, st)
					}
					printStatus(c.App.Writer, st, time.Now())
					return nil
				}),
			},
			{
				Name:  "verify",
				Usage: "check the repository as a client would: signatures, thresholds, hashes, lengths, expiry",
				Flags: []cli.Flag{pathFlag, jsonFlag,
					&cli.StringFlag{Name: "root", Required: true, Usage: "trusted root.json (the one your clients ship with)"}},
				Action: func(c *cli.Context) error {
					trusted, err := safefile.ReadLimited(c.String("root"), maxTrustedRoot)
					if err != nil {
						return fmt.Errorf("read trusted root: %w", err)
					}
					rep, verr := repo.Verify(c.String("path"), trusted, time.Now())
					if c.Bool("json") {
						if err := writeJSON(c.App.Writer, rep); err != nil {
							return err
						}
					} else {
						printReport(c.App.Writer, rep)
					}
					return verr
				},
			},
			{
				Name:  "serve",
				Usage: "serve repository/ over HTTP for development",
				Flags: []cli.Flag{pathFlag, &cli.StringFlag{Name: "addr", Value: "127.0.0.1:8081", Usage: "listen address"}},
				Action: func(c *cli.Context) error {
					dir := c.String("path")
					if _, err := os.Stat(repo.RepositoryPath(dir) + "/root.json"); err != nil {
						return fmt.Errorf("%w: no root.json under %s", repo.ErrNotRepository, dir)
					}
					ln, err := net.Listen("tcp", c.String("addr"))
					if err != nil {
						return fmt.Errorf("listen on %s: %w", c.String("addr"), err)
					}
					srv := &http.Server{Handler: repo.Handler(dir), ReadHeaderTimeout: 10 * time.Second}
					ctx := c.Context // cancelled by SIGINT and SIGTERM (main)
					go func() {
						<-ctx.Done()
						sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
						defer cancel()
						srv.Shutdown(sctx)
					}()
					fmt.Fprintf(c.App.Writer, "Serving %s on http://%s\n", repo.RepositoryPath(dir), ln.Addr())
					log.Info().Str("addr", ln.Addr().String()).Msg("serving repository")
					if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
						return err
					}
					return nil
				},
			},
			{
				Name:  "publish",
				Usage: "upload repository/ to S3-compatible storage, timestamp.json last",
				Flags: []cli.Flag{pathFlag,
					&cli.StringFlag{Name: "to", Required: true, Usage: "s3://BUCKET/PREFIX"},
					&cli.StringFlag{Name: "endpoint", Usage: "S3-compatible endpoint URL (R2, MinIO); enables path-style addressing"},
					&cli.StringFlag{Name: "region", Usage: "region (default from the AWS environment, else us-east-1)"},
					&cli.BoolFlag{Name: "skip-unchanged", Value: true, Usage: "skip objects whose size and MD5 already match"},
				},
				Action: withRepo(func(c *cli.Context, r *repo.Repo) error {
					bucket, prefix, err := s3store.ParseURL(c.String("to"))
					if err != nil {
						return err
					}
					ctx := c.Context // cancelled by SIGINT and SIGTERM (main)
					store, err := s3store.New(ctx, s3store.Config{Bucket: bucket, Prefix: prefix, Endpoint: c.String("endpoint"), Region: c.String("region")})
					if err != nil {
						return err
					}
					if !r.Consistent() {
						log.Warn().Msg("consistent snapshots are off (Fleet's layout): targets and snapshot.json are overwritten in place, so a client refreshing during the upload may fail its check until the upload ends; init with --consistent-snapshot for buckets many clients read")
					}
					res, err := r.Publish(ctx, store, repo.PublishOptions{SkipUnchanged: c.Bool("skip-unchanged"), Progress: os.Stderr})
					if err != nil {
						return err
					}
					log.Info().Str("bucket", bucket).Str("prefix", prefix).Int("uploaded", res.Uploaded).Int("skipped", res.Skipped).Msg("repository published")
					return nil
				}),
			},
		},
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printStatus(w io.Writer, st repo.Status, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ROLE\tVERSION\tEXPIRES\tKEYS\tTHRESHOLD\t\n")
	for _, r := range st.Roles {
		note := ""
		switch {
		case r.Expired:
			note = "EXPIRED"
		case r.ExpiresSoon:
			note = fmt.Sprintf("WARNING: expires in %s", r.Expires.Sub(now).Round(time.Hour))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%s\n", r.Role, r.Version, r.Expires.Format(time.RFC3339), r.Keys, r.Threshold, note)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "COMPONENT\tPLATFORM\tCHANNEL\tFILE\tVERSION\tSIZE\n")
	for _, t := range st.Targets {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", t.Component, t.Platform, t.Channel, t.File, t.Version, t.Length)
	}
	tw.Flush()
}

func printReport(w io.Writer, rep repo.Report) {
	for _, r := range rep.Roles {
		fmt.Fprintf(w, "%-9s v%-4d %d/%d signatures, expires %s  %s\n", r.Role, r.Version, r.Signatures, r.Threshold, r.Expires.Format(time.RFC3339), okString(r.OK))
	}
	bad := 0
	for _, t := range rep.Targets {
		if !t.OK {
			bad++
		}
	}
	fmt.Fprintf(w, "%d targets checked, %d bad\n", len(rep.Targets), bad)
	for _, p := range rep.Problems {
		fmt.Fprintln(w, "problem: "+p)
	}
	fmt.Fprintln(w, "result: "+okString(rep.OK))
}

func okString(ok bool) string {
	if ok {
		return "OK"
	}
	return "FAILED"
}
