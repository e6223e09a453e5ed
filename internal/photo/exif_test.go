package photo

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseEXIF(t *testing.T) {
	t.Parallel()

	le := tiffEXIF(binary.LittleEndian, 6, true)
	// A TIFF header whose IFD0 claims 65535 entries but holds one.
	huge := append([]byte("II*\x00\x08\x00\x00\x00\xff\xff"), 0x12, 0x01, 3, 0, 1, 0, 0, 0, 3, 0, 0, 0)
	// A GPS IFD pointer that points back at IFD0 (a loop).
	loop := append([]byte("MM\x00*\x00\x00\x00\x08\x00\x01"), 0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 8)

	tests := []struct {
		name string
		in   []byte
		want exifInfo
	}{
		{"LittleEndian", le, exifInfo{orientation: 6, hasGPS: true}},
		{"BigEndian", tiffEXIF(binary.BigEndian, 8, true), exifInfo{orientation: 8, hasGPS: true}},
		{"WithAPP1Header", append(bytes.Clone(exifHeader), le...), exifInfo{orientation: 6, hasGPS: true}},
		{"NoGPS", tiffEXIF(binary.BigEndian, 3, false), exifInfo{orientation: 3}},
		{"NoOrientation", tiffEXIF(binary.LittleEndian, 0, false), exifInfo{}},
		{"OrientationOutOfRange", tiffEXIF(binary.LittleEndian, 9, false), exifInfo{}},
		{"Empty", nil, exifInfo{}},
		{"NotTIFF", []byte("JFIF\x00\x01\x02\x03\x04\x05"), exifInfo{}},
		{"BadMagic", []byte("II+\x00\x08\x00\x00\x00\x00\x00"), exifInfo{}},
		{"IFDOffsetPastEnd", []byte("II*\x00\xff\xff\xff\xff"), exifInfo{}},
		{"IFDOffsetInsideHeader", []byte("II*\x00\x00\x00\x00\x00\x01\x00"), exifInfo{}},
		{"HugeEntryCount", huge, exifInfo{orientation: 3}},
		{"TruncatedInGPSIFD", le[:len(le)/2], exifInfo{orientation: 6, hasGPS: true}},
		{"TruncatedBeforeGPSIFD", le[:40], exifInfo{orientation: 6}},
		{"GPSLoop", loop, exifInfo{hasGPS: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, parseEXIF(tt.in))
		})
	}
}

func TestParseEXIFNeverPanics(t *testing.T) {
	t.Parallel()

	// Every prefix and every single-byte corruption of a real block.
	b := tiffEXIF(binary.BigEndian, 6, true)
	for i := range b {
		_ = parseEXIF(b[:i])
		c := bytes.Clone(b)
		c[i] ^= 0xFF
		_ = parseEXIF(c)
	}
}

func TestXMPHasGPS(t *testing.T) {
	t.Parallel()

	require.True(t, xmpHasGPS([]byte(`<rdf:Description exif:GPSLongitude="0,7.65W"/>`)))
	require.False(t, xmpHasGPS([]byte(`<rdf:Description xmp:CreatorTool="Camera"/>`)))
}
