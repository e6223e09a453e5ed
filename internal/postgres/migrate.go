package postgres

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/teleread/teleread/migrations"
)

// riverMigrateLockKey is the pg_advisory_lock key that serialises
// River's migrations between processes (goose has its own session lock).
const riverMigrateLockKey = 0x7e1e_7ead_0001

// MigrateResult says what Migrate applied.
type MigrateResult struct {
	RiverApplied []int
	AppApplied   []int64
	AppVersion   int64
}

// Migrate applies River's migrations and then Teleread's own. It is
// idempotent and safe to run from several processes at once: each set is
// applied under a PostgreSQL advisory lock, and a second process finds
// nothing left to do.
func Migrate(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) (MigrateResult, error) {
	var res MigrateResult
	// River applies each of its migrations in its own transaction (some add
	// enum values, which cannot be used in the transaction that adds them),
	// so the lock is a session lock held on a connection of its own.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return res, fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(riverMigrateLockKey)); err != nil {
		return res, fmt.Errorf("lock river migrations: %w", err)
	}
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: logger})
	if err != nil {
		return res, fmt.Errorf("river migrator: %w", err)
	}
	r, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	_, uerr := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(riverMigrateLockKey))
	if err != nil {
		return res, fmt.Errorf("river migrations: %w", err)
	}
	if uerr != nil {
		return res, fmt.Errorf("unlock river migrations: %w", uerr)
	}
	for _, v := range r.Versions {
		res.RiverApplied = append(res.RiverApplied, v.Version)
	}

	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return res, fmt.Errorf("goose locker: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	// Out of order: a migration that landed with a lower number than one
	// a database already has (work merged in parallel: 00014 after 00016)
	// is applied rather than refused. Migrations are written so that
	// their order among those of one release does not matter.
	provider, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true))
	if err != nil {
		return res, fmt.Errorf("goose provider: %w", err)
	}
	applied, err := provider.Up(ctx)
	if err != nil {
		return res, fmt.Errorf("apply migrations: %w", err)
	}
	for _, a := range applied {
		res.AppApplied = append(res.AppApplied, a.Source.Version)
	}
	if res.AppVersion, err = provider.GetDBVersion(ctx); err != nil {
		return res, fmt.Errorf("read schema version: %w", err)
	}
	return res, nil
}

// CheckSchema returns an error when Teleread's or River's migrations have
// not all been applied, so that a server never runs on an old schema and
// never migrates silently at start.
func CheckSchema(ctx context.Context, pool *pgxpool.Pool) error {
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return fmt.Errorf("river migrator: %w", err)
	}
	vr, err := migrator.Validate(ctx, nil)
	if err != nil {
		return fmt.Errorf("check river schema: %w", err)
	}
	if !vr.OK {
		return fmt.Errorf("river's schema is not up to date (%v): run `teleread migrate`", vr.Messages)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("goose provider: %w", err)
	}
	pending, err := provider.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("check schema version: %w", err)
	}
	if pending {
		return fmt.Errorf("the database schema is behind this binary: run `teleread migrate`")
	}
	return nil
}
