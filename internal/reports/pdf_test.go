package reports

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// sampleImages are a colour photo (JPEG) and a monochrome DICOM-like
// preview (8-bit grey PNG), as intake renders them.
func sampleImages(t *testing.T) []keyImage {
	t.Helper()
	photo := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for y := 0; y < 480; y++ {
		for x := 0; x < 640; x++ {
			dx, dy := x-320, y-240
			c := color.RGBA{R: 224, G: 182, B: 150, A: 255}
			if dx*dx*3/4+dy*dy < 90*90 {
				c = color.RGBA{R: uint8(90 + dx/8), G: 60, B: 45, A: 255}
			}
			photo.Set(x, y, c)
		}
	}
	var jb bytes.Buffer
	require.NoError(t, jpeg.Encode(&jb, photo, &jpeg.Options{Quality: 85}))
	gray := image.NewGray(image.Rect(0, 0, 400, 512))
	for y := 0; y < 512; y++ {
		for x := 0; x < 400; x++ {
			gray.SetGray(x, y, color.Gray{Y: uint8((x*y/3 + x) % 256)})
		}
	}
	var pb bytes.Buffer
	require.NoError(t, png.Encode(&pb, gray))
	return []keyImage{{Caption: "left forearm · dermoscopy", Data: jb.Bytes(), Type: "JPG"},
		{Caption: "CR · WRIST PA", Data: pb.Bytes(), Type: "PNG"},
		{Caption: "left forearm · overview", Data: jb.Bytes(), Type: "JPG"},
		{Caption: "CR · WRIST LAT", Data: pb.Bytes(), Type: "PNG"}}
}

// TestRenderPDF renders every kind of report, checks it is a PDF that
// poppler can rasterise, and leaves the PNGs in $REPORTS_PDF_DIR for a
// person to look at when that is set.
func TestRenderPDF(t *testing.T) {
	t.Parallel()
	images := sampleImages(t)
	for _, tc := range []struct{ status, specialty string }{
		{StatusDraft, "dermatology"}, {StatusPreliminary, "dermatology"}, {"appended", "dermatology"},
		{StatusFinal, "radiology"},
	} {
		t.Run(tc.status+"_"+tc.specialty, func(t *testing.T) {
			t.Parallel()
			doc, err := renderPDF(sampleDocument(tc.status, tc.specialty), images, 1, time.Date(2026, 3, 21, 10, 0, 0, 0, time.UTC))
			require.NoError(t, err)
			var buf bytes.Buffer
			n, err := (&PDF{doc: doc}).WriteTo(&buf)
			require.NoError(t, err)
			require.Equal(t, int64(buf.Len()), n)
			require.True(t, bytes.HasPrefix(buf.Bytes(), []byte("%PDF-")))
			require.Contains(t, buf.String(), "%%EOF")
			rasterise(t, buf.Bytes(), tc.status+"_"+tc.specialty)
		})
	}
}

// rasterise renders every page with pdftoppm (poppler-utils), which fails
// on a broken PDF. pdftoppm is a test tool like the services: `make test`
// installs it (scripts/test-tools.sh), and without it the test fails.
func rasterise(t *testing.T, pdf []byte, name string) {
	t.Helper()
	bin, err := exec.LookPath("pdftoppm")
	if err != nil {
		t.Fatal("pdftoppm (poppler-utils) is not installed: run `make test` or scripts/test-tools.sh, which install it")
	}
	dir := os.Getenv("REPORTS_PDF_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	in := filepath.Join(dir, name+".pdf")
	require.NoError(t, os.WriteFile(in, pdf, 0o644))
	out, err := exec.Command(bin, "-r", "60", "-png", in, filepath.Join(dir, name)).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Empty(t, bytes.TrimSpace(out), "poppler complains: %s", out)
	pages, err := filepath.Glob(filepath.Join(dir, name+"-*.png"))
	require.NoError(t, err)
	require.NotEmpty(t, pages)
	f, err := os.Open(pages[0])
	require.NoError(t, err)
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	require.NoError(t, err)
	require.Greater(t, cfg.Height, cfg.Width, "an A4 portrait page")
}
