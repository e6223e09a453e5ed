package blob_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/testenv"
)

// TestPresignedURLsShortLivedAndScopedToOneObject checks that a presigned
// URL carries exactly the expiry asked for and names one object: it writes
// that key, and the same signature on another key, or with another part
// number, is refused by the object store.
func TestPresignedURLsShortLivedAndScopedToOneObject(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx := context.Background()
	s := env.Blob
	put := func(u string) int {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader([]byte("x")))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}

	u, err := s.PresignPut(ctx, "up/one", 15*time.Minute)
	require.NoError(t, err)
	q := u.Query()
	require.Equal(t, "900", q.Get("X-Amz-Expires"), "the expiry asked for, in seconds")
	require.Equal(t, "/"+s.Bucket()+"/up/one", u.Path, "exactly one bucket and key")
	require.Equal(t, "host", q.Get("X-Amz-SignedHeaders"))

	other := *u
	other.Path = "/" + s.Bucket() + "/up/other"
	require.Equal(t, http.StatusForbidden, put(other.String()), "the signature does not cover another key")
	_, err = s.Stat(ctx, "up/other")
	require.Error(t, err)
	require.Equal(t, http.StatusOK, put(u.String()))
	_, err = s.Stat(ctx, "up/one")
	require.NoError(t, err)

	id, err := s.NewMultipart(ctx, "up/big", "application/octet-stream")
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.AbortMultipart(context.Background(), "up/big", id) })
	pu, err := s.PresignPart(ctx, "up/big", id, 2, time.Minute)
	require.NoError(t, err)
	require.Equal(t, "60", pu.Query().Get("X-Amz-Expires"))
	require.Equal(t, "/"+s.Bucket()+"/up/big", pu.Path)
	moved := *pu
	moved.RawQuery = strings.Replace(pu.RawQuery, "partNumber=2", "partNumber=3", 1)
	require.NotEqual(t, pu.RawQuery, moved.RawQuery)
	require.Equal(t, http.StatusForbidden, put(moved.String()), "nor another part")
	other = *pu
	other.Path = "/" + s.Bucket() + "/up/other"
	require.Equal(t, http.StatusForbidden, put(other.String()), "nor the part of another key")
}
