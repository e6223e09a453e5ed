package uploader_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/client"
	"github.com/teleread/teleread/internal/uploader"
)

// counting is an http.RoundTripper that counts the uploads of files (POST
// .../files) on their way to the server, and how many were multipart.
type counting struct {
	mu        sync.Mutex
	uploads   int
	multipart int
}

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/files") {
		c.mu.Lock()
		c.uploads++
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
			c.multipart++
		}
		c.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (c *counting) counts() (uploads, multipart int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.uploads, c.multipart
}

// countingClient is a client of b's server whose uploads are counted.
func (b *bundle) countingClient(t *testing.T) (*client.Client, *counting) {
	t.Helper()
	ct := &counting{}
	c, err := client.New(b.srv.URL, b.token, client.WithHTTPClient(&http.Client{Transport: ct}))
	require.NoError(t, err)
	return c, ct
}

// tally is a Reporter that keeps, per file, its events and progress bytes.
type tally struct {
	mu       sync.Mutex
	events   map[string][]string
	progress map[string]int64
	// onFound, if set, hears of each file found (hashed).
	onFound func(uploader.Event)
}

var _ uploader.Reporter = (*tally)(nil)

func newTally() *tally { return &tally{events: map[string][]string{}, progress: map[string]int64{}} }

func (r *tally) add(kind string, e uploader.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events[e.Path] = append(r.events[e.Path], kind)
}

func (r *tally) Found(e uploader.Event) {
	if r.onFound != nil {
		r.onFound(e)
	}
}
func (r *tally) Started(e uploader.Event) { r.add("started", e) }
func (r *tally) Progress(path string, n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.progress[path] += n
}
func (r *tally) Resumed(e uploader.Event)        { r.add("resumed", e) }
func (r *tally) Sent(e uploader.Event)           { r.add("sent", e) }
func (r *tally) Already(e uploader.Event)        { r.add("already", e) }
func (r *tally) Skipped(e uploader.Event)        { r.add("skipped", e) }
func (r *tally) Refused(e uploader.Event)        { r.add("refused", e) }
func (r *tally) Failed(e uploader.Event)         { r.add("failed", e) }
func (r *tally) Retry(int, time.Duration, error) {}
func (r *tally) Done(uploader.Summary)           {}

// of returns the events of one file and the bytes of its progress.
func (r *tally) of(path string) ([]string, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events[path], r.progress[path]
}

// TestSmallDICOMFilesArePacked sends a folder of 200 small instances: in
// far fewer requests than files (one file per request with PackFiles 1),
// every file with its own events and progress, and a second run sends
// nothing.
func TestSmallDICOMFilesArePacked(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := func(t *testing.T, pack int) (int, int) {
		t.Helper()
		caseID := b.newCase(t, "radiology")
		dir := t.TempDir()
		paths := study(t, dir, 200)
		c, ct := b.countingClient(t)
		rep := newTally()
		cfg := uploader.Config{Client: c, CaseID: caseID, StateDir: t.TempDir(), Events: rep, PackFiles: pack}
		sum, err := uploader.New(cfg).Run(context.Background(), []string{dir})
		require.NoError(t, err)
		require.Equal(t, 200, sum.Sent)
		require.Zero(t, sum.Refused)
		n, distinct := b.files(t, caseID)
		require.Equal(t, 200, n)
		require.Equal(t, 200, distinct)
		var total int64
		for _, p := range paths {
			st, err := os.Stat(p)
			require.NoError(t, err)
			total += st.Size()
			events, progress := rep.of(p)
			require.Equal(t, []string{"started", "sent"}, events, p)
			require.Equal(t, st.Size(), progress, "the progress of %s totals its bytes", p)
		}
		require.Equal(t, total, sum.Bytes)
		uploads, multipart := ct.counts()

		// A second run asks, and sends nothing.
		cfg.Events = newTally()
		again, err := uploader.New(cfg).Run(context.Background(), []string{dir})
		require.NoError(t, err)
		require.Equal(t, 200, again.Already)
		require.Zero(t, again.Sent)
		u2, _ := ct.counts()
		require.Equal(t, uploads, u2, "nothing is sent again")
		return uploads, multipart
	}
	single, multipart := run(t, 1)
	require.Equal(t, 200, single)
	require.Zero(t, multipart)
	packed, multipart := run(t, 0)
	t.Logf("200 instances: %d requests one file per request, %d packed (%d multipart)", single, packed, multipart)
	require.LessOrEqual(t, packed, 200/uploader.DefaultPackFiles+2*uploader.DefaultParallel)
	require.Positive(t, multipart)
}

// TestBadFileInAPack sends 20 good instances and a truncated one among
// them in one pack: it is refused with the server's reason and the others
// are in.
func TestBadFileInAPack(t *testing.T) {
	t.Parallel()
	b := setup(t)
	caseID := b.newCase(t, "radiology")
	dir := t.TempDir()
	study(t, dir, 20)
	require.NoError(t, os.Remove(filepath.Join(dir, "DICOMDIR")))
	bad, err := os.ReadFile(filepath.Join("..", "intake", "testdata", "bad_MR_truncated.dcm"))
	require.NoError(t, err)
	badPath := filepath.Join(dir, "SE1", "IM00010x") // between IM00009 and IM00011
	require.NoError(t, os.WriteFile(badPath, bad, 0o644))

	c, ct := b.countingClient(t)
	rep := newTally()
	sum, err := uploader.New(uploader.Config{Client: c, CaseID: caseID, StateDir: t.TempDir(), Events: rep,
		Parallel: 1}).Run(context.Background(), []string{dir})
	require.NoError(t, err)
	require.Equal(t, 20, sum.Sent)
	require.Equal(t, 1, sum.Refused)
	require.Equal(t, badPath, sum.RefusedFiles[0].Path)
	require.Contains(t, sum.RefusedFiles[0].Reason, "truncated")
	events, progress := rep.of(badPath)
	require.Equal(t, []string{"started", "refused"}, events)
	require.EqualValues(t, len(bad), progress)
	uploads, multipart := ct.counts()
	require.Equal(t, 1, uploads, "one sender, one pack")
	require.Equal(t, 1, multipart)
	n, _ := b.files(t, caseID)
	require.Equal(t, 20, n)
}

// TestPackFlag: `teleread upload --pack 0` sends one file per request, the
// default packs them.
func TestPackFlag(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var mu sync.Mutex
	uploads := 0
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/files") {
			mu.Lock()
			uploads++
			mu.Unlock()
		}
		b.srv.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	for _, c := range []struct {
		args []string
		want func(n int) bool
	}{
		{[]string{"--pack", "0"}, func(n int) bool { return n == 12 }},
		{nil, func(n int) bool { return n < 12 }},
	} {
		caseID := b.newCase(t, "radiology")
		dir := t.TempDir()
		study(t, dir, 12)
		mu.Lock()
		uploads = 0
		mu.Unlock()
		cmd := b.command(t, append(append([]string{"--case", caseID.String(), "--state-dir", t.TempDir()}, c.args...), dir)...)
		cmd.Args[3] = front.URL // --server
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		require.Contains(t, string(out), "12 sent")
		mu.Lock()
		require.True(t, c.want(uploads), "%v: %d requests", c.args, uploads)
		mu.Unlock()
	}
}

// TestFileGoneBeforeItsPackIsSent removes a file once it is hashed: its
// pack cannot be sent whole, so its files go one by one, and that one is
// refused with the reason.
func TestFileGoneBeforeItsPackIsSent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	caseID := b.newCase(t, "radiology")
	dir := t.TempDir()
	paths := study(t, dir, 10)
	require.NoError(t, os.Remove(filepath.Join(dir, "DICOMDIR")))
	gone := paths[4]
	rep := newTally()
	rep.onFound = func(e uploader.Event) {
		if e.Path == gone {
			require.NoError(t, os.Remove(gone))
		}
	}
	c, ct := b.countingClient(t)
	sum, err := uploader.New(uploader.Config{Client: c, CaseID: caseID, StateDir: t.TempDir(), Events: rep,
		Parallel: 1}).Run(context.Background(), []string{dir})
	require.NoError(t, err)
	// The server may have kept the files of the broken request before the
	// missing one: sent again, they are duplicates.
	require.Equal(t, 9, sum.Sent+sum.Already)
	require.Equal(t, 1, sum.Refused)
	require.Equal(t, gone, sum.RefusedFiles[0].Path)
	require.Contains(t, sum.RefusedFiles[0].Reason, "no such file")
	for _, p := range paths {
		events, _ := rep.of(p)
		if p == gone {
			require.Equal(t, []string{"started", "refused"}, events)
		} else {
			require.Equal(t, []string{"started", "sent"}, events, p)
		}
	}
	uploads, multipart := ct.counts()
	require.Equal(t, 1, multipart, "the pack, which fails")
	require.Equal(t, 10, uploads, "then each file that can be read")
	n, _ := b.files(t, caseID)
	require.Equal(t, 9, n)
	var total int64
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil {
			total += st.Size()
		}
	}
	require.Equal(t, total, sum.Bytes, "the bytes of the failed pack are not counted twice")
}
