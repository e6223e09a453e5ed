package photo

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
)

// webpInfo is what scanWebP learns about a WebP file.
type webpInfo struct {
	exif     exifInfo
	stripped nameSet
	hadGPS   bool
	// icc is the ICC profile from the ICCP chunk, or nil.
	icc []byte
}

// scanWebP walks the RIFF chunks of a WebP file and reports its metadata.
// WebP is always re-encoded, so nothing is copied; the stripped names only
// tell the sender what was removed. Animated WebP is refused because the
// decoder reads still images only.
//
// The EXIF orientation of a WebP is applied like a JPEG's. Viewers disagree
// here (Android's image loaders apply it, Firefox does not), but an encoder that
// wrote the tag meant it, and treating all formats alike is the least
// surprising rule.
func scanWebP(src io.Reader) (*webpInfo, error) {
	info := &webpInfo{}
	r := bufio.NewReaderSize(src, 64<<10)
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, unexpectedEOF(err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WEBP" {
		return nil, invalidf("not a WebP image")
	}
	left := int64(binary.LittleEndian.Uint32(hdr[4:8])) - 4
	var ch [8]byte
	for left >= 8 {
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return nil, unexpectedEOF(err)
		}
		typ := string(ch[0:4])
		n := int64(binary.LittleEndian.Uint32(ch[4:8]))
		padded := n + n&1
		left -= 8 + padded
		var data []byte
		switch typ {
		case "EXIF", "XMP ", "ICCP":
			if n <= maxICCBytes {
				data = make([]byte, padded)
				if _, err := io.ReadFull(r, data); err != nil {
					return nil, unexpectedEOF(err)
				}
				data = data[:n]
			}
		}
		switch typ {
		case "VP8 ", "VP8L", "VP8X", "ALPH":
		case "ANIM", "ANMF":
			return nil, invalidf("animated WebP images are not supported")
		case "EXIF":
			info.stripped.add("exif")
			e := parseEXIF(data)
			if info.exif.orientation == 0 { // readers use the first
				info.exif.orientation = e.orientation
			}
			if e.hasGPS {
				info.hadGPS = true
				info.stripped.add("gps")
			}
		case "XMP ":
			info.stripped.add("xmp")
			if xmpHasGPS(data) {
				info.hadGPS = true
				info.stripped.add("gps")
			}
		case "ICCP":
			info.icc = data
			if data == nil {
				info.stripped.add("icc")
			}
		default:
			info.stripped.add("chunk:" + string(bytes.TrimSpace(ch[0:4])))
		}
		if data == nil {
			if _, err := io.CopyN(io.Discard, r, padded); err != nil {
				return nil, unexpectedEOF(err)
			}
		}
	}
	return info, nil
}
