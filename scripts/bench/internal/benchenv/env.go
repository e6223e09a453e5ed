package benchenv

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"time"

	"github.com/minio/minio-go/v7"
)

// Env is a benchmark's environment: a fresh database and bucket on the
// services, a built teleread binary and a running `teleread serve` on
// them. The caller fills in the configuration fields, then calls Connect,
// Build, CreateDatabase, Seed and StartServer as it needs them, and
// Cleanup at the end.
type Env struct {
	// Configuration, set before use.
	Services Services
	Root     string // the module root, where ./cmd/teleread is built
	Logf     func(string, ...any)
	Keep     bool // -keep: only the always-steps run at cleanup

	// Client talks to the server; nil means http.DefaultClient.
	Client *http.Client
	// ExtraEnv is appended to the environment of every teleread process.
	ExtraEnv []string
	// DropTimeout bounds dropping the database at cleanup; 0 means 30s.
	DropTimeout time.Duration

	// Set up by the methods.
	MC      *minio.Client
	DBName  string
	DBURL   string
	Bucket  string // the server's bucket
	TmpDir  string
	Bin     string
	LogPath string
	Server  *exec.Cmd
	BaseURL string // the server's http://host:port

	exited chan struct{} // closed when the server process has exited
	// secretKey is the TELEREAD_SECRET_KEY of the run's processes.
	secretKey string
	undo      []func() error
	kept      []string
}

// OnCleanup registers f to run at cleanup; with Keep only always-steps run.
func (e *Env) OnCleanup(always bool, f func() error) {
	if e.Keep && !always {
		return
	}
	e.undo = append(e.undo, f)
}

// NoteKept records what Cleanup reports as kept when Keep is set.
func (e *Env) NoteKept(format string, a ...any) {
	e.kept = append(e.kept, fmt.Sprintf(format, a...))
}

// Cleanup runs the registered steps in reverse order and returns the first
// error; every step runs whatever the others do. With Keep it then logs
// what was kept.
func (e *Env) Cleanup() error {
	var first error
	for i := len(e.undo) - 1; i >= 0; i-- {
		if err := e.undo[i](); err != nil {
			e.Logf("cleanup: %v", err)
			if first == nil {
				first = err
			}
		}
	}
	e.undo = nil
	if e.Keep {
		for _, k := range e.kept {
			e.Logf("kept (-keep): %s", k)
		}
	}
	return first
}

// Connect makes the MinIO client and checks that PostgreSQL answers.
func (e *Env) Connect(ctx context.Context) error {
	var err error
	if e.MC, err = e.Services.MinioClient(ctx); err != nil {
		return err
	}
	admin, err := e.Services.ConnectAdmin(ctx)
	if err != nil {
		return err
	}
	admin.Close(ctx)
	return nil
}

// ServerPID returns the pid of the running server, or 0 when none was
// started.
func (e *Env) ServerPID() int {
	if e.Server == nil {
		return 0
	}
	return e.Server.Process.Pid
}

func (e *Env) client() *http.Client {
	if e.Client != nil {
		return e.Client
	}
	return http.DefaultClient
}

// New returns an Env on the services that getenv describes, for the
// benchmark that make target makeTarget runs, logging with logf.
func New(ctx context.Context, getenv func(string) string, makeTarget string, logf func(string, ...any)) (*Env, error) {
	svc, err := LoadServices(getenv, makeTarget)
	if err != nil {
		return nil, err
	}
	root, err := ModuleRoot(ctx, makeTarget)
	if err != nil {
		return nil, err
	}
	return &Env{Services: svc, Root: root, Logf: logf}, nil
}
