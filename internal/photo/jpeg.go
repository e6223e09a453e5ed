package photo

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// JPEG markers this package handles by name.
const (
	markerSOI  = 0xD8
	markerEOI  = 0xD9
	markerSOS  = 0xDA
	markerAPP0 = 0xE0
	markerCOM  = 0xFE
)

// maxJPEGScans bounds the scans of a progressive JPEG: each scan makes the
// decoder walk the whole image, so thousands of tiny scans are a CPU bomb.
// Real encoders write about ten.
const maxJPEGScans = 100

// maxICCBytes bounds an ICC profile kept or re-inserted; real profiles are
// from a few hundred bytes to about 1 MB.
const maxICCBytes = 4 << 20

var (
	iccSignature   = []byte("ICC_PROFILE\x00")
	xmpSignature   = []byte("http://ns.adobe.com/xap/1.0/\x00")
	xmpExtSig      = []byte("http://ns.adobe.com/xmp/extension/\x00")
	jfifSignature  = []byte("JFIF\x00")
	jfxxSignature  = []byte("JFXX\x00")
	adobeSignature = []byte("Adobe")
)

// jpegInfo is what stripJPEG learns about a JPEG.
type jpegInfo struct {
	exif     exifInfo
	stripped nameSet
	hadGPS   bool
	// icc holds the ICC profile segments (marker and length included), in
	// file order, so they can be put back into a re-encoded copy; nil when
	// there is none or it is too large.
	icc []byte
	// iccBytes is the total size of the ICC segments, kept or not.
	iccBytes int
}

// iccProfile returns the start of the ICC profile (its header) carried by
// the first ICC segment in info.icc, or nil.
func (info *jpegInfo) iccProfile() []byte {
	// marker(2) + length(2) + signature(12) + sequence(1) + count(1)
	const skip = 4 + 12 + 2
	if len(info.icc) <= skip {
		return nil
	}
	return info.icc[skip:]
}

// stripJPEG copies the JPEG in src to dst without its metadata segments and
// reports what it found. It keeps JFIF APP0, Adobe APP14 (needed to read
// the colour transform) and, if keepICC, the APP2 ICC profile; it drops every
// other APPn segment (EXIF and XMP in APP1, MPF and FlashPix in APP2, IPTC
// in APP13, ...), COM segments and anything after EOI. The compressed image
// data is copied unchanged, so no detail is lost. Pass io.Discard as dst to
// only inspect the file.
//
// Errors on reading src are returned as they are: io.ErrUnexpectedEOF for a
// truncated file, *InvalidError for a malformed structure.
func stripJPEG(dst io.Writer, src io.Reader, keepICC bool) (*jpegInfo, error) {
	info := &jpegInfo{}
	r := bufio.NewReaderSize(src, 64<<10)
	w := bufio.NewWriterSize(dst, 64<<10)
	var soi [2]byte
	if _, err := io.ReadFull(r, soi[:]); err != nil {
		return nil, unexpectedEOF(err)
	}
	if soi[0] != 0xFF || soi[1] != markerSOI {
		return nil, invalidf("not a JPEG image")
	}
	w.Write(soi[:])

	var (
		seg      = make([]byte, 0, 4+0xFFFF) // marker, length and the longest payload
		frames   int
		scans    int
		exifSeen bool
	)
	marker, err := nextMarker(r)
	for err == nil {
		switch {
		case marker == markerEOI:
			w.WriteByte(0xFF)
			w.WriteByte(markerEOI)
			if _, err := r.Peek(1); err == nil {
				info.stripped.add("trailing-data")
			}
			return info, w.Flush()
		case marker == markerSOI || marker == 0x00:
			return nil, invalidf("damaged JPEG image (unexpected marker 0x%02X)", marker)
		case marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7):
			// TEM and RSTn stand alone without a length.
			w.WriteByte(0xFF)
			w.WriteByte(marker)
			marker, err = nextMarker(r)
			continue
		}
		var lenBuf [2]byte
		if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
			return nil, unexpectedEOF(err)
		}
		n := int(binary.BigEndian.Uint16(lenBuf[:]))
		if n < 2 {
			return nil, invalidf("damaged JPEG image (segment length %d)", n)
		}
		seg = append(seg[:0], 0xFF, marker, lenBuf[0], lenBuf[1])
		seg = seg[:4+n-2]
		if _, err := io.ReadFull(r, seg[4:]); err != nil {
			return nil, unexpectedEOF(err)
		}
		payload := seg[4:]

		keep := true
		switch {
		case marker >= markerAPP0 && marker <= markerAPP0+15:
			keep = info.app(marker, payload, seg, keepICC, &exifSeen)
		case marker == markerCOM:
			keep = false
			info.stripped.add("comment")
		case marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC:
			// SOFn (not DHT, JPG or DAC).
			frames++
			if frames > 1 {
				return nil, invalidf("damaged JPEG image (more than one frame)")
			}
		}
		if keep {
			w.Write(seg)
		}
		if marker != markerSOS {
			marker, err = nextMarker(r)
			continue
		}
		scans++
		if scans > maxJPEGScans {
			return nil, invalidf("JPEG has more than %d progressive scans", maxJPEGScans)
		}
		marker, err = copyScan(w, r)
	}
	return nil, err
}

// app decides whether to keep the APPn segment seg and records what it
// carried.
func (info *jpegInfo) app(marker byte, payload, seg []byte, keepICC bool, exifSeen *bool) bool {
	switch n := marker - markerAPP0; {
	case n == 0 && bytes.HasPrefix(payload, jfifSignature):
		return true
	case n == 0 && bytes.HasPrefix(payload, jfxxSignature):
		info.stripped.add("thumbnail")
	case n == 1 && bytes.HasPrefix(payload, exifHeader):
		info.stripped.add("exif")
		if !*exifSeen { // readers use the first EXIF segment
			*exifSeen = true
			info.exif = parseEXIF(payload)
		}
		if info.exif.hasGPS {
			info.hadGPS = true
			info.stripped.add("gps")
		}
	case n == 1 && (bytes.HasPrefix(payload, xmpSignature) || bytes.HasPrefix(payload, xmpExtSig)):
		info.stripped.add("xmp")
		if xmpHasGPS(payload) {
			info.hadGPS = true
			info.stripped.add("gps")
		}
	case n == 2 && bytes.HasPrefix(payload, iccSignature):
		info.iccBytes += len(seg)
		if info.iccBytes > maxICCBytes {
			info.icc = nil
		} else {
			info.icc = append(info.icc, seg...)
		}
		if keepICC {
			return true
		}
		info.stripped.add("icc")
	case n == 2 && bytes.HasPrefix(payload, []byte("MPF\x00")):
		info.stripped.add("mpf")
	case n == 13:
		info.stripped.add("iptc")
	case n == 14 && bytes.HasPrefix(payload, adobeSignature):
		return true
	default:
		info.stripped.add(fmt.Sprintf("app%d", n))
	}
	return false
}

// nextMarker reads a marker (0xFF, any fill bytes, then the code) and
// returns its code.
func nextMarker(r *bufio.Reader) (byte, error) {
	b, err := r.ReadByte()
	if err != nil {
		return 0, unexpectedEOF(err)
	}
	if b != 0xFF {
		return 0, invalidf("damaged JPEG image (expected a marker)")
	}
	for b == 0xFF {
		if b, err = r.ReadByte(); err != nil {
			return 0, unexpectedEOF(err)
		}
	}
	return b, nil
}

// copyScan copies the entropy-coded data after an SOS header, including
// stuffed bytes and restart markers, and returns the code of the marker that
// ends it.
func copyScan(w *bufio.Writer, r *bufio.Reader) (byte, error) {
	for {
		chunk, err := r.ReadSlice(0xFF)
		if errors.Is(err, bufio.ErrBufferFull) {
			w.Write(chunk)
			continue
		}
		if err != nil {
			return 0, unexpectedEOF(err)
		}
		w.Write(chunk[:len(chunk)-1])
		b, err := r.ReadByte()
		for err == nil && b == 0xFF {
			b, err = r.ReadByte()
		}
		if err != nil {
			return 0, unexpectedEOF(err)
		}
		if b == 0x00 || (b >= 0xD0 && b <= 0xD7) {
			w.WriteByte(0xFF)
			w.WriteByte(b)
			continue
		}
		return b, nil
	}
}

// unexpectedEOF turns io.EOF into io.ErrUnexpectedEOF: inside a file, the
// end always means truncation.
func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
