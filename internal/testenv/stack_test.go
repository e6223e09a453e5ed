package testenv_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/internal/blob"
	"github.com/teleread/teleread/internal/testenv"
)

// TestStack starts a private stack with an erasure-coded MinIO, stops and
// starts each service, and checks the data survive.
func TestStack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own PostgreSQL and MinIO")
	}
	ctx := context.Background()
	s := testenv.NewStack(t, testenv.StackOptions{MinIODrives: 4})
	if s.Env["TELEREAD_DATABASE_URL"] == os.Getenv("TELEREAD_DATABASE_URL") {
		t.Fatal("the private stack uses the shared database")
	}
	for i := 1; i <= 4; i++ {
		if _, err := os.Stat(s.MinIODrive(i)); err != nil {
			t.Fatalf("drive %d: %v", i, err)
		}
	}
	conn, err := pgx.Connect(ctx, s.Env["TELEREAD_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `create table kept (v int); insert into kept values (7)`); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	s.Down(t, "postgres")
	if c, err := pgx.Connect(ctx, s.Env["TELEREAD_DATABASE_URL"]); err == nil {
		c.Close(ctx)
		t.Fatal("postgres still answers after down postgres")
	}
	s.Up(t, "postgres")
	conn, err = pgx.Connect(ctx, s.Env["TELEREAD_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v int
	if err := conn.QueryRow(ctx, `select v from kept`).Scan(&v); err != nil || v != 7 {
		t.Fatalf("after restart: %d, %v", v, err)
	}

	s.Down(t, "minio")
	s.Up(t, "minio")
	store, err := blob.New(blob.Config{
		Endpoint:  s.Env["TELEREAD_S3_ENDPOINT"],
		AccessKey: s.Env["TELEREAD_S3_ACCESS_KEY"],
		SecretKey: s.Env["TELEREAD_S3_SECRET_KEY"],
		Bucket:    s.Env["TELEREAD_S3_BUCKET"],
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	if err := store.Ping(ctx); err != nil {
		t.Fatalf("erasure-coded minio after restart: %v", err)
	}
}
