package dicomweb

import (
	"context"
	"io"

	"github.com/teleread/teleread/internal/dicomweb/dicomwebdb"
)

// storedInstance is the bytes of one instance to retrieve: the file as it
// was stored, or, for a photo, its VL Photographic Image, which intake
// generates on first use and keeps.
type storedInstance struct {
	size int64
	// open reads length bytes (to the end when -1) from offset.
	open func(offset, length int64) (io.ReadCloser, error)
}

// storedOf opens the bytes of instance r, which the caller may see.
func (h *Handler) storedOf(ctx context.Context, r dicomwebdb.InstancesToRetrieveRow) (storedInstance, error) {
	key, size := r.BlobKey, r.StoredSize
	if r.Photo {
		var err error
		if key, size, err = h.intake.PhotoObject(ctx, r.OrgID, r.FileID); err != nil {
			return storedInstance{}, err
		}
	}
	return storedInstance{size: size, open: func(offset, length int64) (io.ReadCloser, error) {
		return h.intake.OpenStored(ctx, key, offset, length)
	}}, nil
}
