package uploader

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/teleread/teleread/api"
	"github.com/teleread/teleread/internal/client"
)

// send sends one file the case does not hold: directly, or through a
// presigned multipart upload from Threshold. A file the server refuses is
// counted; a failure that stops the run is returned.
func (u *Uploader) send(ctx context.Context, it item) error {
	u.cfg.Events.Started(Event{Path: it.path, Size: it.size, SHA256: it.sha256})
	var f *api.File
	var err error
	if it.size >= u.cfg.Threshold {
		f, err = u.sendPresigned(ctx, it)
	} else {
		f, err = u.sendDirect(ctx, it, u.body(it, 0, it.size, it.contentType))
	}
	return u.settle(ctx, it, f, err)
}

// settle counts what became of one file sent on its own: sent, or
// refused; a failure that stops the run is returned.
func (u *Uploader) settle(ctx context.Context, it item, f *api.File, err error) error {
	switch {
	case err == nil:
		u.sent(it, f)
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case isFatal(err):
		u.cfg.Events.Failed(Event{Path: it.path, Reason: err.Error()})
		return u.fatal(err)
	}
	var e *client.Error
	if errors.As(err, &e) {
		u.refused(it, e.FileReason())
		return nil
	}
	u.refused(it, err.Error())
	return nil
}

// body opens the bytes [off, off+n) of a file for each attempt, throttled
// and counted.
func (u *Uploader) body(it item, off, n int64, ct string) client.Body {
	var mu sync.Mutex
	var best int64 // the most bytes any attempt got through, for the progress
	return client.Body{Size: n, ContentType: ct, Open: func() (io.ReadCloser, error) {
		f, err := os.Open(it.path)
		if err != nil {
			return nil, err
		}
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
		var pos int64
		return &meter{r: io.LimitReader(f, n), c: f, lim: u.limiter, onRead: func(k int) {
			mu.Lock()
			pos += int64(k)
			delta := pos - best
			if delta > 0 {
				best = pos
			}
			mu.Unlock()
			if delta > 0 {
				u.addBytes(delta)
				u.cfg.Events.Progress(it.path, delta)
			}
		}}, nil
	}}
}

// sendDirect sends one file as the raw body of one request.
func (u *Uploader) sendDirect(ctx context.Context, it item, body client.Body) (*api.File, error) {
	o := client.FileOptions{ContentType: it.contentType, IdempotencyKey: uuid.NewString()}
	if it.kind == kindPhoto {
		o.BodySite, o.Dermoscopic = u.cfg.BodySite, u.cfg.Dermoscopic
	}
	ans, err := u.cfg.Client.UploadFile(ctx, u.cfg.CaseID, filepath.Base(it.path), body, o)
	if err != nil {
		return nil, err
	}
	return answerFile(ans)
}

func answerFile(ans api.UploadAnswer) (*api.File, error) {
	for _, r := range ans.Files {
		if r.Status == api.FileAccepted && r.File != nil {
			return r.File, nil
		}
		if r.Status == api.FileRejected {
			return nil, &client.Error{Status: 422, Reason: r.Reason, Files: ans.Files}
		}
	}
	return nil, errors.New("the server's answer names no file")
}

// state is what is kept about a half-done multipart upload.
type state struct {
	UploadID uuid.UUID `json:"upload_id"`
	CaseID   uuid.UUID `json:"case_id"`
	SHA256   string    `json:"sha256"`
}

// statePath is where the state of it's multipart upload is kept: named by
// a hash of the case, the absolute path, the size and the modification
// time, so that a changed file starts over. It holds ids only.
func (u *Uploader) statePath(it item) string {
	if u.cfg.StateDir == "" {
		return ""
	}
	abs, err := filepath.Abs(it.path)
	if err != nil {
		abs = it.path
	}
	h := sha256.Sum256([]byte(u.cfg.CaseID.String() + "\x00" + abs + "\x00" + strconv.FormatInt(it.size, 10) +
		"\x00" + strconv.FormatInt(it.mtime, 10)))
	return filepath.Join(u.cfg.StateDir, hex.EncodeToString(h[:16])+".json")
}

func (u *Uploader) loadState(it item) *state {
	p := u.statePath(it)
	if p == "" {
		return nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	var s state
	if json.Unmarshal(b, &s) != nil || s.CaseID != u.cfg.CaseID || s.SHA256 != it.sha256 {
		return nil
	}
	return &s
}

func (u *Uploader) saveState(it item, s state) {
	p := u.statePath(it)
	if p == "" {
		return
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return
	}
	b, _ := json.Marshal(s)
	tmp := p + ".tmp"
	if os.WriteFile(tmp, b, 0o600) == nil {
		_ = os.Rename(tmp, p)
	}
}

func (u *Uploader) dropState(it item) {
	if p := u.statePath(it); p != "" {
		_ = os.Remove(p)
	}
}

// sendPresigned sends a large file straight to object storage, resuming
// the multipart upload a previous run left (the parts that arrived are
// not sent again), then completes it.
func (u *Uploader) sendPresigned(ctx context.Context, it item) (*api.File, error) {
	c := u.cfg.Client
	var up api.Upload
	resumed := false
	if s := u.loadState(it); s != nil {
		got, err := c.Upload(ctx, u.cfg.CaseID, s.UploadID)
		switch {
		case err == nil && (got.Status == api.UploadPending || got.Status == api.UploadCompleting ||
			got.Status == api.UploadCompleted):
			up, resumed = got, true
		case err != nil && client.StatusOf(err) != 404:
			return nil, err
		}
	}
	if !resumed {
		partSize := max(u.cfg.PartSize, (it.size+9999)/10000, 5<<20)
		var err error
		up, err = c.CreateUpload(ctx, u.cfg.CaseID, api.CreateUploadRequest{Filename: filepath.Base(it.path),
			Size: it.size, SHA256: it.sha256, ContentType: it.contentType, PartSize: partSize}, "")
		if err != nil {
			return nil, err
		}
		u.saveState(it, state{UploadID: up.ID, CaseID: u.cfg.CaseID, SHA256: it.sha256})
	} else {
		u.cfg.Events.Resumed(Event{Path: it.path, Size: it.size, SHA256: it.sha256, UploadID: up.ID.String(),
			Parts: arrivedParts(up)})
		if m := up.Multipart; m != nil {
			var done int64
			for _, p := range m.Arrived {
				done += p.Size
			}
			u.cfg.Events.Progress(it.path, done)
		}
	}
	if up.Status == api.UploadPending {
		if err := u.sendParts(ctx, it, up); err != nil {
			return nil, err
		}
	}
	ans, err := c.CompleteUpload(ctx, u.cfg.CaseID, up.ID)
	if err != nil {
		var e *client.Error
		if errors.As(err, &e) && e.Status == 422 {
			u.dropState(it) // the upload failed for good: a new run starts over
		}
		return nil, err
	}
	u.dropState(it)
	return answerFile(ans)
}

func arrivedParts(up api.Upload) int {
	if up.Multipart == nil {
		return 0
	}
	return len(up.Multipart.Arrived)
}

// sendParts PUTs the parts that have not arrived, Parallel at a time. When
// object storage refuses a URL (it expired: they last 2 hours), the upload
// is asked again for fresh URLs of the parts still missing.
func (u *Uploader) sendParts(ctx context.Context, it item, up api.Upload) error {
	c := u.cfg.Client
	for round := 0; ; round++ {
		err := u.putMissing(ctx, it, up)
		if err == nil || round == 2 || client.StatusOf(err) != http.StatusForbidden {
			return err
		}
		if up, err = c.Upload(ctx, u.cfg.CaseID, up.ID); err != nil {
			return err
		}
		if up.Status != api.UploadPending {
			return nil
		}
	}
}

func (u *Uploader) putMissing(ctx context.Context, it item, up api.Upload) error {
	c := u.cfg.Client
	if up.Multipart == nil {
		if up.Received || up.URL == "" {
			return nil
		}
		_, err := c.PutPresigned(ctx, up.URL, u.body(it, 0, it.size, ""))
		return err
	}
	m := up.Multipart
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(u.cfg.Parallel)
	for _, p := range m.Missing {
		off := int64(p.PartNumber-1) * m.PartSize
		if off+p.Size > it.size {
			return fmt.Errorf("part %d of the upload lies beyond the file's %d bytes: the file changed", p.PartNumber, it.size)
		}
		g.Go(func() error {
			_, err := c.PutPresigned(gctx, p.URL, u.body(it, off, p.Size, ""))
			return err
		})
	}
	return g.Wait()
}
