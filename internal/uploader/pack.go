package uploader

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/teleread/teleread/api"
	"github.com/teleread/teleread/internal/client"
)

// sendAll is one sender: it sends the files from in, small DICOM files in
// packs of several per request, the others one by one.
func (u *Uploader) sendAll(ctx context.Context, in <-chan item) error {
	var carry *item // a file that did not fit in the last pack: it starts the next
	for {
		var it item
		if carry != nil {
			it, carry = *carry, nil
		} else {
			var ok bool
			if it, ok = <-in; !ok {
				return nil
			}
		}
		if !u.packable(it) {
			if err := u.send(ctx, it); err != nil {
				return err
			}
			continue
		}
		var pack []item
		var err error
		if pack, carry, err = u.collect(ctx, it, in); err != nil {
			return err
		}
		if err := u.sendPack(ctx, pack); err != nil {
			return err
		}
	}
}

// packable reports whether it may share a request with others: a DICOM
// file small enough for the server to commit it with the others of the
// request (photos are processed one at a time there anyway).
func (u *Uploader) packable(it item) bool {
	return u.cfg.PackFiles > 1 && it.kind == kindDICOM && it.size <= u.cfg.PackFileMax &&
		it.size < u.cfg.Threshold && it.size <= u.cfg.PackBytes
}

// collect fills a pack that starts with first from in, until it holds
// PackFiles files, the next would take it over PackBytes or is not
// packable (that one is returned, to go next), in is closed, or no file
// came for packWait: a pack never waits for files the pipeline does not
// have ready.
func (u *Uploader) collect(ctx context.Context, first item, in <-chan item) ([]item, *item, error) {
	pack, size := []item{first}, first.size
	timer := time.NewTimer(packWait)
	defer timer.Stop()
	for len(pack) < u.cfg.PackFiles {
		select {
		case it, ok := <-in:
			if !ok {
				return pack, nil, nil
			}
			if !u.packable(it) || size+it.size > u.cfg.PackBytes {
				return pack, &it, nil
			}
			pack, size = append(pack, it), size+it.size
			timer.Reset(packWait)
		case <-timer.C:
			return pack, nil, nil
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
	return pack, nil, nil
}

// member is one file of a pack on its way.
type member struct {
	it    item
	body  client.Body
	start func() // reports Started, once
}

// sendPack sends a pack in one multipart/form-data request and counts each
// file as the server answered for it: sent, or refused with its reason.
// Each file is Started when the request reaches it. When the request as a
// whole is refused for its form, or a file of it cannot be read, the files
// go one by one; files the answer does not name, likewise. A failure that
// stops the run is returned.
func (u *Uploader) sendPack(ctx context.Context, pack []item) error {
	if len(pack) == 1 {
		return u.send(ctx, pack[0])
	}
	ms := make([]member, len(pack))
	parts := make([]client.FilePart, len(pack))
	for i, it := range pack {
		var once sync.Once
		start := func() {
			once.Do(func() { u.cfg.Events.Started(Event{Path: it.path, Size: it.size, SHA256: it.sha256}) })
		}
		body := u.body(it, 0, it.size, it.contentType)
		open := body.Open
		body.Open = func() (io.ReadCloser, error) { start(); return open() }
		ms[i] = member{it: it, body: body, start: start}
		parts[i] = client.FilePart{Filename: filepath.Base(it.path), Body: body, ContentType: it.contentType}
	}
	ans, err := u.cfg.Client.UploadFiles(ctx, u.cfg.CaseID, parts, uuid.NewString())
	var e *client.Error
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return ctx.Err()
	case isFatal(err):
		for _, m := range ms {
			m.start()
			u.cfg.Events.Failed(Event{Path: m.it.path, Reason: err.Error()})
		}
		return u.fatal(err)
	case splittable(err):
		return u.sendEach(ctx, ms)
	case errors.As(err, &e) && len(e.Files) > 0 && len(e.Files) <= len(ms):
		ans.Files = e.Files // none was accepted: each has its reason
	default:
		reason := err.Error()
		if e != nil && e.Reason != "" {
			reason = e.Reason
		}
		for _, m := range ms {
			m.start()
			u.refused(m.it, reason)
		}
		return nil
	}
	// The answer lists the files in the order they were sent.
	n := min(len(ans.Files), len(ms))
	for i, r := range ans.Files[:n] {
		m := ms[i]
		m.start()
		switch {
		case r.Status == api.FileAccepted && r.File != nil:
			u.sent(m.it, r.File)
		case r.Reason != "":
			u.refused(m.it, r.Reason)
		default:
			u.refused(m.it, "refused by the server without a reason")
		}
	}
	return u.sendEach(ctx, ms[n:])
}

// sendEach sends files of a pack one by one, with the bodies they had in
// the pack (so that their progress is not counted twice).
func (u *Uploader) sendEach(ctx context.Context, ms []member) error {
	for _, m := range ms {
		m.start()
		f, err := u.sendDirect(ctx, m.it, m.body)
		if err := u.settle(ctx, m.it, f, err); err != nil {
			return err
		}
	}
	return nil
}

// splittable reports whether the files of a pack that failed as a whole
// may go through one by one: a file could not be read on this side, or
// the request was refused for its form (400, 413, 415, a 422 that names
// no file) rather than for its files.
func splittable(err error) bool {
	switch client.StatusOf(err) {
	case 0:
		return !client.IsUnreachable(err)
	case 400, 413, 415:
		return true
	case 422:
		var e *client.Error
		return errors.As(err, &e) && len(e.Files) == 0
	}
	return false
}
