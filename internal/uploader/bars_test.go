package uploader_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/uploader"
)

// TestBarsDraw runs an upload with the terminal's progress bars (drawn
// into a buffer): they show the total and end cleanly with the run.
func TestBarsDraw(t *testing.T) {
	t.Parallel()
	b := setup(t)
	caseID := b.newCase(t, "radiology")
	dir := t.TempDir()
	study(t, dir, 6)
	var out syncBuffer
	rep := uploader.NewBarReporter(&out)
	sum, err := uploader.New(uploader.Config{Client: b.client, CaseID: caseID, StateDir: t.TempDir(), Events: rep,
		RateLimit: 512 << 10}).Run(context.Background(), []string{dir})
	rep.Done(sum)
	require.NoError(t, err)
	require.Equal(t, 6, sum.Sent)
	require.Contains(t, out.String(), "total 6/6 files")
}
