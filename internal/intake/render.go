package intake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/draw"
	_ "image/jpeg" // decode stored JPEG photos
	_ "image/png"  // decode stored PNG photos

	"github.com/google/uuid"

	"github.com/teleread/teleread/internal/dicomfile"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake/intakedb"
	"github.com/teleread/teleread/internal/photo"
)

// Sizes of the rendered images.
const (
	ThumbnailSide = 256
	PreviewSide   = 1024
)

// RenderPreviews renders the thumbnail (JPEG, at most 256 px) and preview
// (at most 1024 px; PNG for monochrome DICOM, JPEG otherwise) of a file and
// records them. DICOM files show their middle frame. It is idempotent: a
// second run overwrites the same keys. A file that cannot be rendered is
// recorded as unavailable (a transfer syntax this server does not decode,
// no pixel data) or failed (damaged pixel data), and nil is returned since
// a retry would not help; other errors are returned to be retried.
func (s *Service) RenderPreviews(ctx context.Context, fileID uuid.UUID) error {
	f, err := s.q.FileGetForRender(ctx, s.pool, fileID)
	if err != nil {
		return fmt.Errorf("load file %s: %w", fileID, err)
	}
	if f.Kind == KindPhoto {
		// A decoded photo is large: share the upload path's bound.
		select {
		case s.photos <- struct{}{}:
			defer func() { <-s.photos }()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	img, err := s.decode(ctx, f)
	var unsupported *dicomfile.UnsupportedError
	var invalid *dicomfile.InvalidError
	switch {
	case errors.As(err, &unsupported):
		return s.setPreview(ctx, f.ID, PreviewUnavailable, unsupported.Error(), nil, nil)
	case errors.Is(err, dicomfile.ErrNoPixelData):
		return s.setPreview(ctx, f.ID, PreviewUnavailable,
			"preview not available: the DICOM file has no pixel data (a report, a waveform or a directory)", nil, nil)
	case errors.As(err, &invalid):
		return s.setPreview(ctx, f.ID, PreviewFailed, "the pixel data cannot be decoded: "+invalid.Reason, nil, nil)
	case errors.Is(err, errUndecodable):
		return s.setPreview(ctx, f.ID, PreviewFailed, err.Error(), nil, nil)
	case err != nil:
		return err
	}

	mono := false
	if _, ok := img.(*image.Gray); ok {
		mono = true
	}
	var thumb, prev bytes.Buffer
	if err := photo.EncodeJPEG(&thumb, photo.Thumbnail(img, ThumbnailSide), 85); err != nil {
		return err
	}
	prevName, prevType := "preview.jpg", "image/jpeg"
	if mono {
		prevName, prevType = "preview.png", "image/png"
		err = photo.EncodePNG(&prev, toGray(photo.Preview(img, PreviewSide)))
	} else {
		err = photo.EncodeJPEG(&prev, photo.Preview(img, PreviewSide), 90)
	}
	if err != nil {
		return err
	}
	thumbKey, prevKey := derivedKey(f.OrgID, f.ID, "thumb.jpg"), derivedKey(f.OrgID, f.ID, prevName)
	if _, err := s.store.Put(ctx, thumbKey, &thumb, int64(thumb.Len()), "image/jpeg"); err != nil {
		return err
	}
	if _, err := s.store.Put(ctx, prevKey, &prev, int64(prev.Len()), prevType); err != nil {
		return err
	}
	return s.setPreview(ctx, f.ID, PreviewReady, "", &prevKey, &thumbKey)
}

// renderDeferred renders the deferred previews of f, which p may see, on
// its first view (bounded like the photo path, so that a viewer paging
// through a series cannot take every core), and returns f as it is then.
// A render that fails for good is recorded as such by RenderPreviews;
// another error is answered, and the next view tries again.
func (s *Service) renderDeferred(ctx context.Context, p *identity.Principal, f File) (File, error) {
	select {
	case s.renders <- struct{}{}:
		defer func() { <-s.renders }()
	case <-ctx.Done():
		return File{}, ctx.Err()
	}
	if err := s.RenderPreviews(ctx, f.ID); err != nil {
		return File{}, fmt.Errorf("render deferred preview: %w", err)
	}
	return s.visibleFile(ctx, p, f.ID)
}

// MarkPreviewFailed records that rendering failed for good (the job ran out
// of attempts), so that readers get an answer instead of "pending".
func (s *Service) MarkPreviewFailed(ctx context.Context, fileID uuid.UUID, cause error) error {
	note := "rendering failed after several attempts"
	if cause != nil {
		note += "; the server log has the cause"
		s.opts.Logger.ErrorContext(ctx, "preview failed", "file_id", fileID.String(), "error", cause.Error())
	}
	return s.setPreview(ctx, fileID, PreviewFailed, note, nil, nil)
}

func (s *Service) setPreview(ctx context.Context, id uuid.UUID, status, note string, prev, thumb *string) error {
	err := s.q.FileSetPreview(ctx, s.pool, intakedb.FileSetPreviewParams{ID: id, PreviewStatus: status,
		PreviewNote: note, PreviewKey: prev, ThumbnailKey: thumb})
	if err != nil {
		return fmt.Errorf("record preview of %s: %w", id, err)
	}
	return nil
}

// errUndecodable marks a stored photo that cannot be decoded again.
var errUndecodable = errors.New("the stored photo cannot be decoded")

// decode reads the stored object of f and decodes the image to render: the
// middle frame of a DICOM file, or the cleaned photo.
func (s *Service) decode(ctx context.Context, f File) (image.Image, error) {
	rc, _, err := s.store.Get(ctx, f.BlobKey, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if f.Kind == KindPhoto {
		img, _, err := image.Decode(rc)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errUndecodable, err)
		}
		return img, nil
	}
	frame := 0
	if inst, err := s.q.FileInstance(ctx, s.pool, f.ID); err == nil && inst.Frames > 1 {
		frame = int(inst.Frames) / 2
	} else if err != nil {
		return nil, fmt.Errorf("load instance: %w", err)
	}
	return dicomfile.RenderFrame(rc, frame)
}

// toGray converts a resized monochrome image back to one channel, so that
// its PNG is a third of the size.
func toGray(img image.Image) image.Image {
	if g, ok := img.(*image.Gray); ok {
		return g
	}
	g := image.NewGray(img.Bounds())
	draw.Draw(g, g.Bounds(), img, img.Bounds().Min, draw.Src)
	return g
}
