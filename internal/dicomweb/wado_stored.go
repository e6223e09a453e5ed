package dicomweb

import (
	"bytes"
	"context"
	"io"

	"github.com/teleread/teleread/internal/dicomweb/dicomwebdb"
)

// storedInstance is the bytes of one instance to retrieve: the file as it
// was stored, or, for a photo, its VL Photographic Image, which intake
// generates (the same bytes each time) and which is held in memory for the
// request.
type storedInstance struct {
	size int64
	// open reads length bytes (to the end when -1) from offset.
	open func(offset, length int64) (io.ReadCloser, error)
}

// storedOf opens the bytes of instance r, which the caller may see.
func (h *Handler) storedOf(ctx context.Context, r dicomwebdb.InstancesToRetrieveRow) (storedInstance, error) {
	if !r.Photo {
		return storedInstance{size: r.StoredSize, open: func(offset, length int64) (io.ReadCloser, error) {
			return h.intake.OpenStored(ctx, r.BlobKey, offset, length)
		}}, nil
	}
	b, err := h.intake.PhotoObject(ctx, r.OrgID, r.FileID)
	if err != nil {
		return storedInstance{}, err
	}
	size := int64(len(b))
	return storedInstance{size: size, open: func(offset, length int64) (io.ReadCloser, error) {
		offset = min(max(offset, 0), size)
		end := size
		if length >= 0 {
			end = min(offset+length, size)
		}
		return io.NopCloser(bytes.NewReader(b[offset:end])), nil
	}}, nil
}
