// Command teleread is the Teleread exchange: API server, workers, migrations,
// demo data and the site-side upload client, as subcommands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/teleread/teleread/internal/app"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, version); err != nil {
		fmt.Fprintln(os.Stderr, "teleread:", err)
		os.Exit(app.ExitCode(err))
	}
}
