package reports

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/go-pdf/fpdf"
	"github.com/google/uuid"

	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/reports/reportsdb"
)

// maxImageBytes bounds one preview read into the PDF; previews are 1024 px.
const maxImageBytes = 16 << 20

// PDF is a rendered report, ready to be written to a response.
type PDF struct {
	// Filename is a name to save it under.
	Filename string
	doc      *fpdf.Fpdf
}

// WriteTo writes the PDF to w.
func (p *PDF) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	err := p.doc.Output(cw)
	return cw.n, err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// keyImage is a preview of one of the case's files, for the PDF.
type keyImage struct {
	Caption string
	Data    []byte
	Type    string // JPG or PNG
}

// PDF renders report id as a PDF, if p may read it, and audits the read
// (report.pdf). Drafts render too, for the reading group's preview, marked
// as such on every page.
func (s *Service) PDF(ctx context.Context, p *identity.Principal, id uuid.UUID) (*PDF, error) {
	r, c, err := s.visible(ctx, p, &id, nil)
	if err != nil {
		return nil, err
	}
	sc := cases.ScopeOf(p)
	d, err := s.document(ctx, sc, r, c)
	if err != nil {
		return nil, err
	}
	images, missing, err := s.keyImages(ctx, sc, c.ID)
	if err != nil {
		return nil, err
	}
	doc, err := renderPDF(d, images, missing, s.now())
	if err != nil {
		return nil, err
	}
	if err := s.viewed(ctx, p, r, c, "report.pdf"); err != nil {
		return nil, err
	}
	return &PDF{Filename: "report-" + r.ID.String() + ".pdf", doc: doc}, nil
}

// keyImages reads the ready previews of the case's files (one per DICOM
// series) from object storage. An image that cannot be read is counted in
// missing rather than failing the report.
func (s *Service) keyImages(ctx context.Context, sc cases.Scope, caseID uuid.UUID) ([]keyImage, int, error) {
	pp := sc.Params()
	rows, err := s.q.KeyImages(ctx, s.pool, reportsdb.KeyImagesParams{CaseID: caseID, Platform: pp.Platform,
		SiteOrgID: pp.SiteOrgID, ReadingGroupID: pp.ReadingGroupID, Lim: int32(s.opts.MaxKeyImages)})
	if err != nil {
		return nil, 0, fmt.Errorf("key images: %w", err)
	}
	var out []keyImage
	missing := 0
	for _, f := range rows {
		key := f.PreviewKey
		if key == nil {
			key = f.ThumbnailKey
		}
		data, err := s.readImage(ctx, *key)
		typ := imageType(data)
		if err != nil || typ == "" {
			missing++
			continue
		}
		out = append(out, keyImage{Caption: caption(f), Data: data, Type: typ})
	}
	return out, missing, nil
}

func (s *Service) readImage(ctx context.Context, key string) ([]byte, error) {
	rc, _, err := s.store.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, maxImageBytes))
}

// imageType sniffs the image formats the PDF embeds.
func imageType(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}):
		return "JPG"
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "PNG"
	}
	return ""
}

func caption(f reportsdb.KeyImagesRow) string {
	var parts []string
	if f.Modality != "" {
		parts = append(parts, f.Modality)
	}
	if f.SeriesDescription != "" {
		parts = append(parts, f.SeriesDescription)
	}
	if f.BodySite != nil && *f.BodySite != "" {
		parts = append(parts, *f.BodySite)
	}
	if len(parts) == 0 {
		parts = append(parts, f.Filename)
	}
	return strings.Join(parts, " · ")
}
