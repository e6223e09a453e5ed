package app

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/config"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/postgres"
)

// seedOutput is the JSON document `teleread seed` prints. Its shape is
// stable so that scripts can read the tokens.
type seedOutput struct {
	URL   string               `json:"url"`
	Users []identity.DemoLogin `json:"users"`
}

func runSeed(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet("seed", env)
	demo := fs.Bool("demo", false, "create the demo organisations, users and tokens")
	admin := fs.String("platform-admin", "", "create the first platform admin with this e-mail (new installations)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *demo == (*admin != "") {
		return &usageError{"seed: give exactly one of --demo or --platform-admin EMAIL"}
	}
	cfg, err := config.Load(env.Getenv)
	if err != nil {
		return err
	}
	pool, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := postgres.CheckSchema(ctx, pool); err != nil {
		return err
	}
	svc := identity.NewService(pool)
	out := seedOutput{URL: cfg.PublicURL}
	if *demo {
		out.Users, err = svc.SeedDemo(ctx)
	} else {
		var login identity.DemoLogin
		login, err = svc.Bootstrap(ctx, *admin, "Platform admin")
		out.Users = []identity.DemoLogin{login}
	}
	if err != nil {
		return err
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func runAudit(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		return &usageError{"usage: teleread audit verify"}
	}
	fs := newFlagSet("audit verify", env)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := config.Load(env.Getenv)
	if err != nil {
		return err
	}
	pool, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	rep, err := audit.Verify(ctx, pool)
	if err != nil {
		return err
	}
	if rep.OK() {
		fmt.Fprintf(env.Stdout, "audit log intact: %d events in %d chains verified\n", rep.Events, rep.Chains)
		return nil
	}
	for _, b := range rep.Breaks {
		fmt.Fprintf(env.Stdout, "BROKEN chain %s at seq %d (row id %d): %s\n", b.Chain, b.Seq, b.ID, b.Reason)
	}
	return fmt.Errorf("audit log verification failed: %d chain(s) broken", len(rep.Breaks))
}
