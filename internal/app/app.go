// Package app wires Teleread together: configuration, PostgreSQL, object
// storage, River and the HTTP server, behind the subcommands of the
// teleread binary. Run is the whole program, so tests can call it.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/teleread/teleread/internal/config"
	"github.com/teleread/teleread/internal/logctx"
	"github.com/teleread/teleread/internal/postgres"
)

const usage = `usage: teleread <command> [flags]

commands:
  serve     run the HTTP API and web UI, and the River workers unless --workers=false
  worker    run only the River workers
  migrate   apply database migrations (Teleread's and River's) and create the bucket
  seed      create demo organisations, users and tokens (--demo), or the first
            platform admin (--platform-admin EMAIL), and print logins as JSON
  upload    send DICOM files and photos to a case, resuming what an interruption left (--help)
  audit     audit verify: walk the audit hash chains and report the first broken row
  version   print the version

Configuration comes from TELEREAD_* environment variables; see docs/operations.md.
`

// Env is what a subcommand gets from the outside world.
type Env struct {
	Getenv  func(string) string
	Stdout  io.Writer
	Stderr  io.Writer
	Version string
}

// usageError marks errors that are the caller's wording, not a failure.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// ExitCode returns the process exit code for an error returned by Run.
func ExitCode(err error) int {
	var u *usageError
	if errors.As(err, &u) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	if e, ok := errors.AsType[*exitError](err); ok { // upload's exit codes
		return e.code
	}
	return 1
}

// Run runs the subcommand in args until it ends or ctx is cancelled.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, version string) error {
	env := Env{Getenv: getenv, Stdout: stdout, Stderr: stderr, Version: version}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &usageError{"no command given"}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, env, rest, true)
	case "worker":
		return runServe(ctx, env, rest, false)
	case "migrate":
		return runMigrate(ctx, env, rest)
	case "seed":
		return runSeed(ctx, env, rest)
	case "audit":
		return runAudit(ctx, env, rest)
	case "upload":
		return runUpload(ctx, env, rest)
	case "version", "--version":
		fmt.Fprintln(stdout, "teleread", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return &usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
}

// newLogger returns the process logger: JSON (or text) on stderr, with the
// request id added from the context to every line.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	var h slog.Handler
	if cfg.LogFormat == "text" {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(logctx.NewHandler(h))
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, env Env) *flag.FlagSet {
	fs := flag.NewFlagSet("teleread "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("%s: unexpected arguments: %s", fs.Name(), strings.Join(fs.Args(), " "))}
	}
	return nil
}

func runMigrate(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet("migrate", env)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(env.Getenv)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, env.Stderr)
	pool, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	res, err := postgres.Migrate(ctx, pool, logger)
	if err != nil {
		return err
	}
	store, err := newBlobStore(cfg)
	if err != nil {
		return err
	}
	if err := store.EnsureBucket(ctx); err != nil {
		return err
	}
	logger.InfoContext(ctx, "migrated",
		"river_applied", res.RiverApplied, "app_applied", res.AppApplied,
		"schema_version", res.AppVersion, "bucket", store.Bucket())
	fmt.Fprintf(env.Stdout, "database at schema version %d (%d applied now, %d River migrations); bucket %s ready\n",
		res.AppVersion, len(res.AppApplied), len(res.RiverApplied), store.Bucket())
	return nil
}
