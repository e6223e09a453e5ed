package blob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/testenv"
)

func TestPromote(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	s := env.Blob
	info, err := s.Put(ctx, "tmp/a", bytes.NewReader([]byte("hello")), -1, "text/plain")
	require.NoError(t, err)

	existed, err := s.Promote(ctx, "tmp/a", "blobs/"+info.SHA256, info.SHA256, "text/plain")
	require.NoError(t, err)
	require.False(t, existed)
	got, err := s.Stat(ctx, "blobs/"+info.SHA256)
	require.NoError(t, err)
	require.Equal(t, info.SHA256, got.SHA256)
	require.Equal(t, "text/plain", got.ContentType)

	_, err = s.Put(ctx, "tmp/b", bytes.NewReader([]byte("hello")), -1, "text/plain")
	require.NoError(t, err)
	existed, err = s.Promote(ctx, "tmp/b", "blobs/"+info.SHA256, info.SHA256, "text/plain")
	require.NoError(t, err)
	require.True(t, existed, "the same bytes are not copied twice")

	_, err = s.Promote(ctx, "tmp/missing", "blobs/other", "x", "text/plain")
	require.True(t, apperr.Is(err, apperr.NotFound), "%v", err)
}

func TestPutBytes(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	s := env.Blob
	data := []byte("a small DICOM instance")
	sum := sha256.Sum256(data)
	hexSum := hex.EncodeToString(sum[:])
	key := "blobs/" + hexSum

	existed, err := s.PutBytes(ctx, key, data, hexSum, "application/dicom")
	require.NoError(t, err)
	require.False(t, existed)
	got, err := s.Stat(ctx, key)
	require.NoError(t, err)
	require.Equal(t, hexSum, got.SHA256)
	require.Equal(t, "application/dicom", got.ContentType)
	require.EqualValues(t, len(data), got.Size)
	rc, _, err := s.Get(ctx, key, 0, -1)
	require.NoError(t, err)
	back, err := io.ReadAll(rc)
	rc.Close()
	require.NoError(t, err)
	require.Equal(t, data, back)

	existed, err = s.PutBytes(ctx, key, data, hexSum, "application/dicom")
	require.NoError(t, err)
	require.True(t, existed, "the same bytes are not sent twice")

	// The payload is signed with the SHA-256 given: bytes that do not
	// match it are refused by the object store, and nothing is stored.
	other := sha256.Sum256([]byte("something else"))
	_, err = s.PutBytes(ctx, "blobs/wrong", data, hex.EncodeToString(other[:]), "application/dicom")
	require.Error(t, err)
	_, err = s.Stat(ctx, "blobs/wrong")
	require.True(t, apperr.Is(err, apperr.NotFound), "%v", err)
}

func TestMultipart(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	s := env.Blob
	id, err := s.NewMultipart(ctx, "up/x", "application/octet-stream")
	require.NoError(t, err)
	parts, err := s.ListParts(ctx, "up/x", id)
	require.NoError(t, err)
	require.Empty(t, parts)
	u, err := s.PresignPart(ctx, "up/x", id, 1, time.Minute)
	require.NoError(t, err)
	require.Contains(t, u.RawQuery, "partNumber=1")
	require.Contains(t, u.RawQuery, "uploadId=")
	require.NoError(t, s.AbortMultipart(ctx, "up/x", id))
	require.NoError(t, s.AbortMultipart(ctx, "up/x", id), "aborting twice is fine")
	_, err = s.ListParts(ctx, "up/x", id)
	require.True(t, apperr.Is(err, apperr.NotFound), "%v", err)
}

func TestDeleteOlderAndList(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	s := env.Blob
	for _, k := range []string{"p/1", "p/2", "q/1"} {
		_, err := s.Put(ctx, k, bytes.NewReader([]byte(k)), int64(len(k)), "")
		require.NoError(t, err)
	}
	keys, err := s.List(ctx, "p/")
	require.NoError(t, err)
	require.Equal(t, []string{"p/1", "p/2"}, keys)
	n, err := s.DeleteOlder(ctx, "p/", time.Now().Add(-time.Hour))
	require.NoError(t, err)
	require.Zero(t, n, "recent objects stay")
	n, err = s.DeleteOlder(ctx, "p/", time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, 2, n)
	rc, _, err := s.Get(ctx, "q/1", 0, -1)
	require.NoError(t, err)
	b, _ := io.ReadAll(rc)
	rc.Close()
	require.Equal(t, "q/1", string(b))
}

func TestListUploads(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	s := env.Blob
	a, err := s.NewMultipart(ctx, "orgs/1/uploads/a", "application/dicom")
	require.NoError(t, err)
	b, err := s.NewMultipart(ctx, "orgs/1/uploads/b", "application/dicom")
	require.NoError(t, err)
	_, err = s.NewMultipart(ctx, "orgs/2/uploads/c", "application/dicom")
	require.NoError(t, err)

	got, err := s.ListUploads(ctx, "orgs/1/")
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "orgs/1/uploads/a", got[0].Key)
	require.Equal(t, a, got[0].UploadID)
	require.Equal(t, b, got[1].UploadID)
	require.WithinDuration(t, time.Now(), got[0].Initiated, time.Minute)

	require.NoError(t, s.AbortMultipart(ctx, got[0].Key, got[0].UploadID))
	got, err = s.ListUploads(ctx, "orgs/")
	require.NoError(t, err)
	require.Len(t, got, 2, "the aborted upload is gone")
}
