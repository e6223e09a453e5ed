package photo

import (
	"bytes"
	"encoding/binary"
	"image/jpeg"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStripJPEGSegments(t *testing.T) {
	t.Parallel()

	base := encodeJPEG(t, quadrants(32, 32))
	jfif := jpegSegment(0xE0, []byte("JFIF\x00\x01\x02\x00\x00\x01\x00\x01\x00\x00"))
	adobe := jpegSegment(0xEE, []byte("Adobe\x00\x64\x00\x00\x00\x00\x01"))
	icc := jpegSegment(0xE2, iccSignature, []byte{1, 1}, fakeICC("RGB "))

	tests := []struct {
		name     string
		segs     [][]byte
		kept     [][]byte
		stripped []string
	}{
		{"JFIFAdobeICCKept", [][]byte{jfif, adobe, icc}, [][]byte{jfif, adobe, icc}, nil},
		{"JFXXThumbnail", [][]byte{jfif, jpegSegment(0xE0, []byte("JFXX\x00\x10thumb"))}, [][]byte{jfif}, []string{"thumbnail"}},
		{"OtherAPPn", [][]byte{jpegSegment(0xEC, []byte("Ducky")), jpegSegment(0xEF, []byte("x")), jpegSegment(0xE1, []byte("other"))},
			nil, []string{"app12", "app15", "app1"}},
		{"ExtendedXMP", [][]byte{jpegSegment(0xE1, xmpExtSig, []byte("GUID...GPSLongitude"))}, nil, []string{"xmp", "gps"}},
		{"EmptyGPSIFD", [][]byte{jpegSegment(0xE1, exifHeader, emptyGPSEXIF())}, nil, []string{"exif"}},
		{"FillBytes", [][]byte{{0xFF, 0xFF, 0xFF}, jpegSegment(0xFE, []byte("note"))}, nil, []string{"comment"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := encodeJPEG(t, quadrants(32, 32), tt.segs...)
			var out bytes.Buffer
			info, err := stripJPEG(&out, bytes.NewReader(in), true)
			require.NoError(t, err)
			require.Equal(t, nameSet(tt.stripped), info.stripped)
			want := bytes.Join([][]byte{base[:2], bytes.Join(tt.kept, nil), base[2:]}, nil)
			require.Equal(t, want, out.Bytes())
		})
	}
}

// emptyGPSEXIF returns an EXIF block whose GPS IFD holds only GPSVersionID,
// as cameras with location turned off write it.
func emptyGPSEXIF() []byte {
	b := []byte("II*\x00\x08\x00\x00\x00")
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = append(b, 0x25, 0x88, 4, 0, 1, 0, 0, 0, 26, 0, 0, 0) // GPS IFD at 26
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = append(b, 0, 0, 1, 0, 4, 0, 0, 0, 2, 3, 0, 0)
	return binary.LittleEndian.AppendUint32(b, 0)
}

func TestStripJPEGRefusesSecondFrameInJFIF(t *testing.T) {
	t.Parallel()

	// image/jpeg's DecodeConfig stops at the first SOF of a JFIF file, so
	// the metadata walk is what catches a second frame.
	retina := readTestdata(t, "retina.jpg")
	sof := bytes.Index(retina, []byte{0xFF, 0xC0})
	n := int(binary.BigEndian.Uint16(retina[sof+2:])) + 2
	in := bytes.Join([][]byte{retina[:sof+n], retina[sof:]}, nil)
	_, _, err := process(t, in, Options{})
	requireInvalid(t, err, "damaged JPEG image (more than one frame)")
}

func TestStripJPEGDecodesIdentically(t *testing.T) {
	t.Parallel()

	// Restart markers and stuffed bytes in the scan survive the copy.
	orig := readTestdata(t, "video-001.restart2.jpeg")
	var out bytes.Buffer
	_, err := stripJPEG(&out, bytes.NewReader(orig), false)
	require.NoError(t, err)
	a, err := jpeg.Decode(bytes.NewReader(orig))
	require.NoError(t, err)
	b, err := jpeg.Decode(&out)
	require.NoError(t, err)
	require.Equal(t, a, b)
}

func TestInsertWriter(t *testing.T) {
	t.Parallel()

	src := []byte("0123456789")
	for split := range len(src) + 1 {
		var buf bytes.Buffer
		w := &insertWriter{w: &buf, at: 4, extra: []byte("ab")}
		n1, err := w.Write(src[:split])
		require.NoError(t, err)
		n2, err := w.Write(src[split:])
		require.NoError(t, err)
		require.Equal(t, len(src), n1+n2)
		require.Equal(t, "0123ab456789", buf.String(), "split at %d", split)
	}
	var buf bytes.Buffer
	_, err := io.Copy(&insertWriter{w: &buf, at: 4}, bytes.NewReader(src))
	require.NoError(t, err)
	require.Equal(t, string(src), buf.String())
}
