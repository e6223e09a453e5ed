package blob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/blob"
	"github.com/teleread/teleread/internal/testenv"
)

// onlyReader hides bytes.Reader's other methods, as a network body would.
type onlyReader struct{ io.Reader }

func TestPutUnknownSizeSmallAndLarge(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	for name, n := range map[string]int{"Empty": 0, "Small": 512 << 10, "ExactlyOnePart": blob.PartSize, "Large": blob.PartSize + 3<<20} {
		t.Run(name, func(t *testing.T) {
			data := make([]byte, n)
			for i := range data {
				data[i] = byte(rng.UintN(256))
			}
			sum := sha256.Sum256(data)
			info, err := env.Blob.Put(ctx, "t/"+name, onlyReader{bytes.NewReader(data)}, -1, "application/octet-stream")
			require.NoError(t, err)
			require.EqualValues(t, n, info.Size)
			require.Equal(t, hex.EncodeToString(sum[:]), info.SHA256)
			rc, st, err := env.Blob.Get(ctx, "t/"+name, 0, -1)
			require.NoError(t, err)
			got, err := io.ReadAll(rc)
			rc.Close()
			require.NoError(t, err)
			require.EqualValues(t, n, st.Size)
			require.True(t, bytes.Equal(data, got))
		})
	}
}

// A stream of known length above one part goes up part by part without a
// part buffer (putStream): the bytes, the SHA-256 and the size are the
// stream's; a stream shorter or longer than its length leaves nothing,
// neither an object nor a multipart upload.
func TestPutKnownSizeStream(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	n := blob.StreamPartSize + 5<<20 + 7 // two parts, the last short and odd
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(rng.UintN(256))
	}
	sum := sha256.Sum256(data)
	info, err := env.Blob.Put(ctx, "t/stream", onlyReader{bytes.NewReader(data)}, int64(n), "application/dicom")
	require.NoError(t, err)
	require.EqualValues(t, n, info.Size)
	require.Equal(t, hex.EncodeToString(sum[:]), info.SHA256)
	rc, st, err := env.Blob.Get(ctx, "t/stream", 0, -1)
	require.NoError(t, err)
	got, err := io.ReadAll(rc)
	rc.Close()
	require.NoError(t, err)
	require.EqualValues(t, n, st.Size)
	require.Equal(t, "application/dicom", st.ContentType)
	require.True(t, bytes.Equal(data, got))

	for name, body := range map[string][]byte{"short": data[:n-100], "long": append(data[:n:n], 'x')} {
		_, err := env.Blob.Put(ctx, "t/"+name, onlyReader{bytes.NewReader(body)}, int64(n), "application/dicom")
		require.Error(t, err, name)
		require.True(t, apperr.Is(err, apperr.Invalid), "%s: %v", name, err)
		_, err = env.Blob.Stat(ctx, "t/"+name)
		require.True(t, apperr.Is(err, apperr.NotFound), "%s: nothing half-written stays", name)
		uploads, err := env.Blob.ListUploads(ctx, "t/"+name)
		require.NoError(t, err)
		require.Empty(t, uploads, name)
	}
}

func TestPutKnownSizeMismatch(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	_, err := env.Blob.Put(ctx, "t/short", bytes.NewReader([]byte("abc")), 10, "text/plain")
	require.Error(t, err)
	_, err = env.Blob.Stat(ctx, "t/short")
	require.True(t, apperr.Is(err, apperr.NotFound), "nothing half-written stays")
}

func TestRangeRead(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	_, err := env.Blob.Put(ctx, "t/r", bytes.NewReader([]byte("0123456789")), 10, "text/plain")
	require.NoError(t, err)
	rc, _, err := env.Blob.Get(ctx, "t/r", 3, 4)
	require.NoError(t, err)
	b, _ := io.ReadAll(rc)
	rc.Close()
	require.Equal(t, "3456", string(b))
	_, _, err = env.Blob.Get(ctx, "t/missing", 0, -1)
	require.True(t, apperr.Is(err, apperr.NotFound))
}
