package benchenv

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLoadServices(t *testing.T) {
	t.Parallel()
	_, err := LoadServices(func(string) string { return "" }, "bench")
	require.ErrorContains(t, err, "TELEREAD_DATABASE_URL, TELEREAD_S3_ACCESS_KEY, TELEREAD_S3_ENDPOINT, TELEREAD_S3_SECRET_KEY not set")
	require.ErrorContains(t, err, "run `make bench`, or eval \"$(scripts/services.sh env)\" first")

	env := map[string]string{
		"TELEREAD_DATABASE_URL": "postgres://u:secret@localhost:5432/teleread", "TELEREAD_S3_ENDPOINT": "localhost:9000",
		"TELEREAD_S3_ACCESS_KEY": "a", "TELEREAD_S3_SECRET_KEY": "s", "TELEREAD_S3_USE_TLS": "true",
	}
	s, err := LoadServices(func(k string) string { return env[k] }, "bench")
	require.NoError(t, err)
	require.True(t, s.S3TLS)
	require.Equal(t, "us-east-1", s.S3Region)

	env["TELEREAD_S3_USE_TLS"] = "maybe"
	_, err = LoadServices(func(k string) string { return env[k] }, "bench")
	require.ErrorContains(t, err, "is not a boolean")
}

func TestURLs(t *testing.T) {
	t.Parallel()
	u, err := WithDatabase("postgres://u:secret@localhost:5432/teleread?sslmode=disable", "teleread_bench_x")
	require.NoError(t, err)
	require.Equal(t, "postgres://u:secret@localhost:5432/teleread_bench_x?sslmode=disable", u)
	require.Equal(t, "postgres://u:xxxxx@localhost:5432/teleread", RedactURL("postgres://u:secret@localhost:5432/teleread"))
	require.Len(t, RandomHex(6), 12)
}

func TestServerEnv(t *testing.T) {
	t.Setenv("TELEREAD_LISTEN", ":8080")
	e := &Env{Services: Services{S3Region: "r"}, DBURL: "postgres://x/db", Bucket: "b", ExtraEnv: []string{"TELEREAD_EXTRA=1"}}
	env := e.ServerEnv()
	require.NotContains(t, env, "TELEREAD_LISTEN=:8080")
	require.Contains(t, env, "TELEREAD_LISTEN=127.0.0.1:0")
	require.Contains(t, env, "TELEREAD_DATABASE_URL=postgres://x/db")
	require.Equal(t, "TELEREAD_EXTRA=1", env[len(env)-1])
}

func TestCleanup(t *testing.T) {
	t.Parallel()
	var logged, ran []string
	e := &Env{Keep: true, Logf: func(f string, a ...any) { logged = append(logged, f) }}
	e.OnCleanup(false, func() error { ran = append(ran, "skipped"); return nil })
	e.OnCleanup(true, func() error { ran = append(ran, "first"); return errors.New("boom") })
	e.OnCleanup(true, func() error { ran = append(ran, "last"); return errors.New("bang") })
	e.NoteKept("bucket %s", "b")
	require.EqualError(t, e.Cleanup(), "bang")
	require.Equal(t, []string{"last", "first"}, ran)
	require.Equal(t, []string{"cleanup: %v", "cleanup: %v", "kept (-keep): %s"}, logged)
	require.Equal(t, 0, e.ServerPID())
}
