package photo

import (
	"bytes"
	"encoding/binary"
)

// EXIF tags this package reads.
const (
	tagOrientation = 0x0112
	tagGPSIFD      = 0x8825
	tagGPSVersion  = 0x0000
)

// maxIFDEntries bounds the entries read from one IFD; real files have a few
// dozen.
const maxIFDEntries = 1000

var exifHeader = []byte("Exif\x00\x00")

// exifInfo is what the package needs from an EXIF block.
type exifInfo struct {
	// orientation is the Orientation tag (1 to 8), or 0 when it is absent or
	// out of range.
	orientation int
	// hasGPS is true when a GPS IFD with at least one position tag exists.
	hasGPS bool
}

// parseEXIF reads the orientation and the presence of GPS data from an EXIF
// block: a TIFF structure, optionally preceded by "Exif\0\0" as in a JPEG
// APP1 segment. Only IFD0 and the GPS IFD are read, without following any
// chains, and every offset is checked, so hostile input cannot make it loop
// or read out of bounds. Anything it cannot parse is treated as absent.
func parseEXIF(b []byte) exifInfo {
	var info exifInfo
	b = bytes.TrimPrefix(b, exifHeader)
	if len(b) < 8 {
		return info
	}
	var bo binary.ByteOrder
	switch string(b[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return info
	}
	if bo.Uint16(b[2:4]) != 42 {
		return info
	}
	t := tiff{b: b, bo: bo}
	t.eachEntry(bo.Uint32(b[4:8]), func(tag, typ uint16, count uint32, value []byte) {
		switch tag {
		case tagOrientation:
			if typ == 3 && count >= 1 { // SHORT
				if o := int(bo.Uint16(value)); o >= 1 && o <= 8 {
					info.orientation = o
				}
			}
		case tagGPSIFD:
			if (typ == 4 || typ == 13) && count >= 1 { // LONG or IFD
				info.hasGPS = t.hasGPSTags(bo.Uint32(value))
			}
		}
	})
	return info
}

// tiff is a TIFF structure with its byte order.
type tiff struct {
	b  []byte
	bo binary.ByteOrder
}

// eachEntry calls fn for every well-formed entry of the IFD at off. value is
// the 4-byte value-or-offset field.
func (t tiff) eachEntry(off uint32, fn func(tag, typ uint16, count uint32, value []byte)) {
	if off < 8 || uint64(off)+2 > uint64(len(t.b)) {
		return
	}
	n := int(t.bo.Uint16(t.b[off:]))
	n = min(n, maxIFDEntries, (len(t.b)-int(off)-2)/12)
	for i := range n {
		e := t.b[int(off)+2+12*i:][:12]
		fn(t.bo.Uint16(e[0:2]), t.bo.Uint16(e[2:4]), t.bo.Uint32(e[4:8]), e[8:12])
	}
}

// hasGPSTags reports whether the GPS IFD at off has any tag besides
// GPSVersionID; cameras with location turned off may write an empty GPS IFD.
func (t tiff) hasGPSTags(off uint32) bool {
	found := false
	t.eachEntry(off, func(tag, _ uint16, _ uint32, _ []byte) {
		if tag != tagGPSVersion {
			found = true
		}
	})
	return found
}

// xmpHasGPS reports whether an XMP packet (or any text) names a GPS
// position property.
func xmpHasGPS(b []byte) bool {
	return bytes.Contains(b, []byte("GPSLatitude")) || bytes.Contains(b, []byte("GPSLongitude"))
}
