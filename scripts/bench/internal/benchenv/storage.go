package benchenv

import (
	"context"
	"fmt"
	"time"

	"github.com/minio/minio-go/v7"
)

// CreateDatabase creates database dbName and names bucket as the server's
// (the server creates it), registers dropping both at cleanup, and migrates
// the database with the built binary.
func (e *Env) CreateDatabase(ctx context.Context, dbName, bucket string) error {
	e.DBName, e.Bucket = dbName, bucket
	e.NoteKept("database %s, bucket %s, binary and server log in %s", e.DBName, e.Bucket, e.TmpDir)
	var err error
	if e.DBURL, err = WithDatabase(e.Services.DatabaseURL, e.DBName); err != nil {
		return err
	}
	admin, err := e.Services.ConnectAdmin(ctx)
	if err != nil {
		return err
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+e.DBName); err != nil {
		return fmt.Errorf("create database %s: %w", e.DBName, err)
	}
	e.OnCleanup(false, e.dropDatabase)
	e.OnCleanup(false, func() error { return e.RemoveBucket(e.Bucket) })

	e.Logf("migrating database %s, bucket %s", e.DBName, e.Bucket)
	_, err = e.Teleread(ctx, "migrate")
	return err
}

func (e *Env) dropDatabase() error {
	timeout := e.DropTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	admin, err := e.Services.ConnectAdmin(ctx)
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+e.DBName+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", e.DBName, err)
	}
	return nil
}

// RemoveBucket deletes every object of bucket, then the bucket; a missing
// bucket is not an error.
func (e *Env) RemoveBucket(bucket string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ok, err := e.MC.BucketExists(ctx, bucket)
	if err != nil || !ok {
		return err
	}
	objects := e.MC.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true, WithVersions: true})
	for res := range e.MC.RemoveObjects(ctx, bucket, objects, minio.RemoveObjectsOptions{}) {
		if res.Err != nil {
			return fmt.Errorf("empty bucket %s: %w", bucket, res.Err)
		}
	}
	if err := e.MC.RemoveBucket(ctx, bucket); err != nil {
		return fmt.Errorf("remove bucket %s: %w", bucket, err)
	}
	return nil
}
