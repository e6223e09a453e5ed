package benchenv

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// RunFunc is a benchmark program's whole run; ctx is cancelled on Ctrl-C.
type RunFunc func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// Main runs run with the process's arguments, environment and output, and
// exits 1 on error, printing it after "bench name:" unless it is -help.
func Main(name string, run RunFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("interrupted (everything it created is removed unless -keep): %w", err)
	}
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bench "+name+":", err)
		}
		os.Exit(1)
	}
}

// Logger returns the benchmarks' progress log: "bench: " lines on w.
func Logger(w io.Writer) func(string, ...any) {
	return func(format string, a ...any) { fmt.Fprintf(w, "bench: "+format+"\n", a...) }
}
