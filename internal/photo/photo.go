// Package photo checks and cleans clinical photos uploaded by referring
// sites: it recognises JPEG, PNG and WebP by their magic bytes, refuses
// decompression bombs before decoding, removes every kind of embedded
// metadata (EXIF with GPS, XMP, IPTC, comments, text chunks), turns the
// picture upright according to its EXIF orientation, and measures sharpness
// and exposure so the sender can be warned about a photo that will not help
// the reader.
//
// The package has no state; all knobs are in Options.
package photo

import (
	"bytes"
	"fmt"
)

// Format is an image file format recognised by Sniff.
type Format string

// The formats this package reads. FormatWebP is decode-only: its stored copy
// is written as PNG.
const (
	FormatJPEG Format = "jpeg"
	FormatPNG  Format = "png"
	FormatWebP Format = "webp"
)

// ContentType returns the media type of f, or "" for an unknown format.
func (f Format) ContentType() string {
	switch f {
	case FormatJPEG:
		return "image/jpeg"
	case FormatPNG:
		return "image/png"
	case FormatWebP:
		return "image/webp"
	}
	return ""
}

// SniffLen is the number of leading bytes Sniff needs to recognise every
// format it knows; fewer bytes may still be enough.
const SniffLen = 16

var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// Sniff recognises a supported image format from the first bytes of a file
// (at least SniffLen bytes for WebP). It never looks at file names.
func Sniff(head []byte) (Format, bool) {
	switch {
	case len(head) >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF:
		return FormatJPEG, true
	case bytes.HasPrefix(head, pngMagic):
		return FormatPNG, true
	case len(head) >= 16 && string(head[0:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return FormatWebP, true
	}
	return "", false
}

// describeUnsupported names a few file kinds that senders commonly upload by
// mistake, so the refusal can say what the file is.
func describeUnsupported(head []byte) string {
	switch {
	case len(head) == 0:
		return "the file is empty"
	case bytes.HasPrefix(head, []byte("%PDF")):
		return "a PDF document, not a JPEG, PNG or WebP image"
	case bytes.HasPrefix(head, []byte("GIF8")):
		return "GIF images are not supported; send a JPEG or PNG"
	case len(head) >= 12 && string(head[4:8]) == "ftyp":
		// ISO base media: HEIC/HEIF/AVIF stills and MP4/MOV video.
		switch string(head[8:12]) {
		case "heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1":
			return "HEIC/HEIF images are not supported; send a JPEG (most phones can export one)"
		case "avif", "avis":
			return "AVIF images are not supported; send a JPEG or PNG"
		}
		return "a video or ISO media file, not a JPEG, PNG or WebP image"
	case bytes.HasPrefix(head, []byte("II*\x00")), bytes.HasPrefix(head, []byte("MM\x00*")):
		return "TIFF images are not supported; send a JPEG or PNG"
	case len(head) >= 132 && string(head[128:132]) == "DICM":
		return "a DICOM file; upload it as DICOM, not as a photo"
	}
	return "not a JPEG, PNG or WebP image"
}

// InvalidError reports an upload that is not an acceptable photo. Reason is
// short and written for the sender, e.g. "truncated JPEG".
type InvalidError struct {
	Reason string
}

// Error returns the reason prefixed with "invalid photo: ".
func (e *InvalidError) Error() string { return "invalid photo: " + e.Reason }

func invalidf(format string, args ...any) error {
	return &InvalidError{Reason: fmt.Sprintf(format, args...)}
}

// WarningCode identifies a quality warning; the values are stable and may be
// used by API clients.
type WarningCode string

// The quality warnings Process can return.
const (
	WarnTooSmall     WarningCode = "too_small"
	WarnBlurred      WarningCode = "blurred"
	WarnUnderExposed WarningCode = "under_exposed"
	WarnOverExposed  WarningCode = "over_exposed"
)

// Warning is a quality problem that does not stop the upload.
type Warning struct {
	Code    WarningCode
	Message string
}

// Measures are the quality values measured on a photo; Process uses them to
// decide its warnings and returns them so the API can show them.
type Measures struct {
	// LaplacianVariance is the variance of the 4-neighbour Laplacian of a
	// greyscale copy box-downscaled to at most MeasureSide pixels on its
	// longer side (0-255 luma scale). Low values mean few sharp edges.
	LaplacianVariance float64
	// MeanLuma is the mean Rec. 601 luma over all pixels, 0-255.
	MeanLuma float64
	// DarkFraction is the share of pixels with luma <= DarkLuma.
	DarkFraction float64
	// BrightFraction is the share of pixels with luma >= BrightLuma.
	BrightFraction float64
}

// Result describes the stored copy written by Process.
type Result struct {
	// SourceFormat is the format of the uploaded bytes.
	SourceFormat Format
	// Format is the format of the stored copy: the source format, except
	// WebP which is stored as PNG.
	Format Format
	// ContentType is the media type of the stored copy.
	ContentType string
	// Width and Height are the stored copy's size, after orientation.
	Width, Height int
	// Orientation is the EXIF orientation found in the upload (1 to 8; 1 when
	// there was none). When it is not 1 the pixels were turned upright.
	Orientation int
	// Reencoded is true when the pixels were decoded and encoded again
	// (orientation applied, or WebP input); otherwise the stored copy holds
	// the original compressed image data unchanged.
	Reencoded bool
	// StrippedMetadata lists what was removed, e.g. "exif", "gps", "xmp",
	// "iptc", "comment", "text", "trailing-data".
	StrippedMetadata []string
	// HadGPS is true when the upload carried a location (EXIF GPS or XMP).
	HadGPS bool
	// Warnings lists quality problems, in a fixed order; empty when none.
	Warnings []Warning
	// Measures are the values behind the quality warnings.
	Measures Measures
}
