package testenv

import (
	"encoding/binary"
	"hash/crc32"
	"strconv"
)

// GPSMarker is the latitude value WithGPS writes; no stored copy of a photo
// may contain it.
var GPSMarker = []byte{0x33, 0x77, 0x5A, 0x5A}

// WithGPS returns jpg with an EXIF APP1 segment carrying a GPS IFD (whose
// latitude rationals hold GPSMarker) inserted after its SOI marker.
func WithGPS(jpg []byte) []byte {
	le := binary.LittleEndian
	tiff := []byte{'I', 'I', 42, 0, 8, 0, 0, 0}
	// IFD0: one entry, the GPS IFD pointer.
	tiff = le.AppendUint16(tiff, 1)
	tiff = append(le.AppendUint16(le.AppendUint16(tiff, 0x8825), 4), 1, 0, 0, 0)
	tiff = le.AppendUint32(le.AppendUint32(tiff, 26), 0)
	// GPS IFD at 26: GPSLatitudeRef "N", GPSLatitude (3 rationals at 56).
	tiff = le.AppendUint16(tiff, 2)
	tiff = append(le.AppendUint16(le.AppendUint16(tiff, 0x0001), 2), 2, 0, 0, 0, 'N', 0, 0, 0)
	tiff = append(le.AppendUint16(le.AppendUint16(tiff, 0x0002), 5), 3, 0, 0, 0)
	tiff = le.AppendUint32(le.AppendUint32(tiff, 56), 0)
	for range 3 {
		tiff = le.AppendUint32(append(tiff, GPSMarker...), 1)
	}
	payload := append([]byte("Exif\x00\x00"), tiff...)
	seg := binary.BigEndian.AppendUint16([]byte{0xFF, 0xE1}, uint16(len(payload)+2))
	out := append([]byte{0xFF, 0xD8}, append(seg, payload...)...)
	return append(out, jpg[2:]...)
}

// HugePNG is the start of a 20,000 x 20,000 PNG: enough to be refused from
// its header, before any pixel is decoded.
func HugePNG() []byte {
	out := []byte("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
		body := append([]byte(typ), data...)
		out = append(out, body...)
		out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(body))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, 20000)
	ihdr = binary.BigEndian.AppendUint32(ihdr, 20000)
	chunk("IHDR", append(ihdr, 8, 2, 0, 0, 0))
	chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	chunk("IEND", nil)
	return out
}

// DICOMHeader builds the start of an Explicit VR Little Endian DICOM file of
// patient Doe^Archibald (ID 77654033) up to and including the header of its
// Pixel Data element, which declares pixelLen bytes: 8-bit monochrome
// frames of rows x cols. Tests append pixels (or not, for truncation).
func DICOMHeader(sop string, rows, cols, frames int, pixelLen uint32) []byte {
	le := binary.LittleEndian
	elem := func(out []byte, group, el uint16, vr, val string) []byte {
		if len(val)%2 == 1 {
			if vr == "UI" {
				val += "\x00"
			} else {
				val += " "
			}
		}
		out = append(le.AppendUint16(le.AppendUint16(out, group), el), vr...)
		if vr == "OB" {
			out = le.AppendUint32(append(out, 0, 0), uint32(len(val)))
		} else {
			out = le.AppendUint16(out, uint16(len(val)))
		}
		return append(out, val...)
	}
	us := func(v int) string { return string(le.AppendUint16(nil, uint16(v))) }
	const sc = "1.2.840.10008.5.1.4.1.1.7"
	var meta []byte
	meta = elem(meta, 2, 1, "OB", "\x00\x01")
	meta = elem(meta, 2, 2, "UI", sc)
	meta = elem(meta, 2, 3, "UI", sop)
	meta = elem(meta, 2, 0x10, "UI", "1.2.840.10008.1.2.1")
	out := append(make([]byte, 128), "DICM"...)
	out = elem(out, 2, 0, "UL", string(le.AppendUint32(nil, uint32(len(meta)))))
	out = append(out, meta...)
	out = elem(out, 8, 0x16, "UI", sc)
	out = elem(out, 8, 0x18, "UI", sop)
	out = elem(out, 8, 0x60, "CS", "OT")
	out = elem(out, 0x10, 0x10, "PN", "Doe^Archibald")
	out = elem(out, 0x10, 0x20, "LO", "77654033")
	out = elem(out, 0x20, 0x0D, "UI", sop+".1")
	out = elem(out, 0x20, 0x0E, "UI", sop+".2")
	out = elem(out, 0x28, 0x02, "US", us(1))
	out = elem(out, 0x28, 0x04, "CS", "MONOCHROME2")
	out = elem(out, 0x28, 0x08, "IS", strconv.Itoa(frames))
	out = elem(out, 0x28, 0x10, "US", us(rows))
	out = elem(out, 0x28, 0x11, "US", us(cols))
	out = elem(out, 0x28, 0x100, "US", us(8))
	out = elem(out, 0x28, 0x101, "US", us(8))
	out = elem(out, 0x28, 0x102, "US", us(7))
	out = elem(out, 0x28, 0x103, "US", us(0))
	out = append(le.AppendUint16(le.AppendUint16(out, 0x7FE0), 0x10), 'O', 'B', 0, 0)
	return le.AppendUint32(out, pixelLen)
}
