package dicomfile

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// render renders frame of a testdata file.
func render(t *testing.T, name string, frame int) image.Image {
	t.Helper()
	img, err := RenderFrame(bytes.NewReader(readTestdata(t, name)), frame)
	require.NoError(t, err)
	return img
}

// encodePNG encodes img, and also writes it to the test's temp dir for a
// human to look at (go test -v prints nothing; see t.TempDir()).
func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, img))
	require.NoError(t, os.WriteFile(filepath.Join(t.TempDir(), "frame.png"), b.Bytes(), 0o644))
	return b.Bytes()
}

// TestRenderFrameGolden compares renders of native and RLE files with golden
// PNGs; these decoders are ours and deterministic.
func TestRenderFrameGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file   string
		frame  int
		golden string
		kind   image.Image
	}{
		{"CT_small.dcm", 0, "CT_small.png", &image.Gray{}},
		{"MR_small.dcm", 0, "MR_small.png", &image.Gray{}},
		{"MR_small_implicit.dcm", 0, "MR_small.png", &image.Gray{}},
		{"MR_small_bigendian.dcm", 0, "MR_small.png", &image.Gray{}},
		{"MR_small_RLE.dcm", 0, "MR_small.png", &image.Gray{}},
		{"CR_mono1_6154.dcm", 0, "CR_mono1_6154.png", &image.Gray{}},
		{"ExplVR_BigEnd_US_rgb.dcm", 0, "ExplVR_BigEnd_US_rgb.png", &image.RGBA{}},
		{"SC_rgb_small_odd.dcm", 0, "SC_rgb_small_odd.png", &image.RGBA{}},
		{"SC_rgb_rle_2frame.dcm", 0, "SC_rgb_rle_2frame_0.png", &image.RGBA{}},
		{"SC_rgb_rle_2frame.dcm", 1, "SC_rgb_rle_2frame_1.png", &image.RGBA{}},
		{"rtdose.dcm", 7, "rtdose_7.png", &image.Gray{}},
		{"image_dfl.dcm", 0, "image_dfl.png", &image.Gray{}},
		{"liver_1frame_SEG.dcm", 0, "liver_1frame_SEG.png", &image.Gray{}},
	}
	for _, tc := range tests {
		t.Run(tc.golden+"/"+tc.file, func(t *testing.T) {
			t.Parallel()
			img := render(t, tc.file, tc.frame)
			require.IsType(t, tc.kind, img)
			compareGolden(t, tc.golden, encodePNG(t, img))
		})
	}
}

func TestRenderFrameMonochrome1IsInverted(t *testing.T) {
	t.Parallel()
	data := readTestdata(t, "CR_mono1_6154.dcm")
	mono1 := render(t, "CR_mono1_6154.dcm", 0).(*image.Gray)
	// The same file relabelled MONOCHROME2 (same length, same window).
	relabelled := bytes.Replace(data, []byte("MONOCHROME1"), []byte("MONOCHROME2"), 1)
	img, err := RenderFrame(bytes.NewReader(relabelled), 0)
	require.NoError(t, err)
	mono2 := img.(*image.Gray)
	varied := false
	for i := range mono1.Pix {
		require.Equal(t, 255-mono2.Pix[i], mono1.Pix[i], "pixel %d", i)
		varied = varied || mono1.Pix[i] != mono1.Pix[0]
	}
	require.True(t, varied, "a flat image proves nothing")
}

func TestRenderFrameWindow(t *testing.T) {
	t.Parallel()
	// Stored 0, 100, 200, 300 with slope 2, intercept -100: -100, 100, 300, 500.
	base := func() *builder {
		return newPart10(tsExplicitLE, explicitLE()).withUIDs().
			str(tagWindowCenter, "DS", "200").str(tagWindowWidth, "DS", "401").
			str(tagRescaleIntercept, "DS", "-100").str(tagRescaleSlope, "DS", "2")
	}
	pixels := le16(0, 100, 200, 300)
	tests := []struct {
		name string
		data []byte
		want []uint8
	}{
		{"Window", base().image("MONOCHROME2", 2, 2, 1, 16, pixels).bytes(), []uint8{0, 64, 192, 255}},
		{"WindowMonochrome1", base().image("MONOCHROME1", 2, 2, 1, 16, pixels).bytes(), []uint8{255, 191, 63, 0}},
		{"MinMax", newPart10(tsExplicitLE, explicitLE()).withUIDs().image("MONOCHROME2", 2, 2, 1, 16, pixels).bytes(), []uint8{0, 85, 170, 255}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			img, err := RenderFrame(bytes.NewReader(tc.data), 0)
			require.NoError(t, err)
			require.Equal(t, tc.want, img.(*image.Gray).Pix)
		})
	}
}

func TestRenderFrameColourModels(t *testing.T) {
	t.Parallel()
	rgbPlanar := newPart10(tsExplicitLE, explicitLE()).withUIDs().us(tagPlanarConfig, 1).
		image("RGB", 1, 2, 3, 8, []byte{255, 0, 0, 255, 0, 0}).bytes()
	// Y, Cb, Cr of pure red and pure blue (JPEG full range).
	ybr := newPart10(tsExplicitLE, explicitLE()).withUIDs().
		image("YBR_FULL", 1, 2, 3, 8, []byte{76, 85, 255, 29, 255, 107}).bytes()
	ybr422 := newPart10(tsExplicitLE, explicitLE()).withUIDs().
		image("YBR_FULL_422", 1, 2, 3, 8, []byte{76, 76, 85, 255}).bytes()
	palette := newPart10(tsExplicitLE, explicitLE()).withUIDs().
		elem(tagRedDescriptor, "US", le16(3, 10, 16)).elem(tagRedDescriptor+1, "US", le16(3, 10, 16)).elem(tagRedDescriptor+2, "US", le16(3, 10, 16)).
		elem(tagRedData, "OW", le16(0xFFFF, 0, 0)).elem(tagRedData+1, "OW", le16(0, 0xFFFF, 0)).elem(tagRedData+2, "OW", le16(0, 0, 0xFFFF)).
		image("PALETTE COLOR", 1, 3, 1, 8, []byte{10, 11, 12}).bytes()
	tests := []struct {
		name string
		data []byte
		want [][3]uint8
	}{
		{"PlanarRGB", rgbPlanar, [][3]uint8{{255, 0, 0}, {0, 255, 0}}},
		{"YBRFull", ybr, [][3]uint8{{254, 0, 0}, {0, 0, 254}}},
		{"YBRFull422", ybr422, [][3]uint8{{254, 0, 0}, {254, 0, 0}}},
		{"Palette", palette, [][3]uint8{{255, 0, 0}, {0, 255, 0}, {0, 0, 255}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			img, err := RenderFrame(bytes.NewReader(tc.data), 0)
			require.NoError(t, err)
			rgba := img.(*image.RGBA)
			for x, want := range tc.want {
				p := rgba.PixOffset(x, 0)
				for c := range 3 {
					require.InDelta(t, want[c], rgba.Pix[p+c], 2, "pixel %d channel %d", x, c)
				}
			}
		})
	}
}

func TestRenderFrameJPEG(t *testing.T) {
	t.Parallel()
	t.Run("SC_rgb_jpeg_dcmtk", func(t *testing.T) {
		t.Parallel()
		img := render(t, "SC_rgb_jpeg_dcmtk.dcm", 0)
		require.Equal(t, image.Rect(0, 0, 100, 100), img.Bounds())
		// Same test pattern as the RLE file: a red band at the top.
		requireColour(t, img, 50, 2, 255, 0, 0, 8)
		requireColour(t, img, 50, 97, 255, 255, 255, 8)
	})
	t.Run("SC_jpeg_no_color_transform", func(t *testing.T) {
		t.Parallel()
		// RGB components without colour transform: a light grey page.
		requireColour(t, render(t, "SC_jpeg_no_color_transform.dcm", 0), 10, 10, 244, 244, 244, 4)
	})
	t.Run("derived_retina_vl_photo", func(t *testing.T) {
		t.Parallel()
		img := render(t, "derived_retina_vl_photo.dcm", 0)
		require.Equal(t, image.Rect(0, 0, 1411, 1411), img.Bounds())
		r, g, b, _ := img.At(900, 700).RGBA()
		require.Greater(t, r, g, "a fundus is red")
		require.Greater(t, r, b)
		requireColour(t, img, 5, 5, 0, 0, 0, 8)
	})
}

// requireColour checks the colour of one pixel within tolerance.
func requireColour(t *testing.T, img image.Image, x, y int, r, g, b uint8, delta float64) {
	t.Helper()
	cr, cg, cb, _ := img.At(x, y).RGBA()
	require.InDelta(t, float64(r), float64(cr>>8), delta, "red at %d,%d", x, y)
	require.InDelta(t, float64(g), float64(cg>>8), delta, "green at %d,%d", x, y)
	require.InDelta(t, float64(b), float64(cb>>8), delta, "blue at %d,%d", x, y)
}

func TestRenderFrameMultiFrame(t *testing.T) {
	t.Parallel()
	frame0 := render(t, "SC_rgb_rle_2frame.dcm", 0)
	frame1 := render(t, "SC_rgb_rle_2frame.dcm", 1)
	requireColour(t, frame0, 50, 2, 255, 0, 0, 0)
	requireColour(t, frame1, 50, 2, 0, 255, 255, 0) // the second frame is the inverse
	first := render(t, "rtdose.dcm", 0).(*image.Gray)
	last := render(t, "rtdose.dcm", 14).(*image.Gray)
	require.NotEqual(t, first.Pix, last.Pix)

	_, err := RenderFrame(bytes.NewReader(readTestdata(t, "SC_rgb_rle_2frame.dcm")), 2)
	require.ErrorContains(t, err, "frame 2 out of range: the file has 2 frames")
}

func TestRenderFrameErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		ts   string
		name string
	}{
		{"JPEG2000.dcm", "1.2.840.10008.1.2.4.91", "JPEG 2000 Image Compression"},
		{"MR_small_jp2klossless.dcm", "1.2.840.10008.1.2.4.90", "JPEG 2000 Image Compression (Lossless Only)"},
		{"MR_small_jpeg_ls_lossless.dcm", "1.2.840.10008.1.2.4.80", "JPEG-LS Lossless Image Compression"},
		{"SC_rgb_jpeg_gdcm_lossless.dcm", "1.2.840.10008.1.2.4.70", "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])"},
		{"JPGExtended.dcm", "1.2.840.10008.1.2.4.51", "12-bit JPEG"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			_, err := RenderFrame(bytes.NewReader(readTestdata(t, tc.file)), 0)
			var unsupported *UnsupportedError
			require.ErrorAs(t, err, &unsupported)
			require.Equal(t, tc.ts, unsupported.TransferSyntax)
			require.Equal(t, tc.name, unsupported.Name)
			require.Contains(t, err.Error(), "preview not available: "+tc.name+" ("+tc.ts+") is not decoded by this server")
		})
	}
	t.Run("NoPixelData", func(t *testing.T) {
		t.Parallel()
		_, err := RenderFrame(bytes.NewReader(readTestdata(t, "test-SR.dcm")), 0)
		require.ErrorIs(t, err, ErrNoPixelData)
	})
	t.Run("Truncated", func(t *testing.T) {
		t.Parallel()
		_, err := RenderFrame(bytes.NewReader(readTestdata(t, "bad_derived_CT_small_cut_20000.dcm")), 0)
		requireInvalid(t, err, "truncated")
	})
	t.Run("HugeFrame", func(t *testing.T) {
		t.Parallel()
		data := newPart10(tsExplicitLE, explicitLE()).withUIDs().us(tagSamplesPerPixel, 1).
			str(tagPhotometric, "CS", "MONOCHROME2").us(tagRows, 65535).us(tagColumns, 65535).
			us(tagBitsAllocated, 16).header(tagPixelData, "OW", 0xFFFFFFF0).bytes()
		_, err := RenderFrame(bytes.NewReader(data), 0)
		requireInvalid(t, err, "larger than this server renders")
	})
}

// encapsulated builds an 8-bit MONOCHROME2 JPEG Baseline file of 16×16
// frames with the given flat values; split cuts each frame in two fragments
// and bot adds a Basic Offset Table.
func encapsulated(t *testing.T, values []uint8, bot, split bool) []byte {
	t.Helper()
	var frames [][]byte
	for _, v := range values {
		img := image.NewGray(image.Rect(0, 0, 16, 16))
		for i := range img.Pix {
			img.Pix[i] = v
		}
		var b bytes.Buffer
		require.NoError(t, jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}))
		if b.Len()%2 == 1 {
			b.WriteByte(0) // fragments have even lengths
		}
		frames = append(frames, b.Bytes())
	}
	b := newPart10(tsJPEGBaseline, explicitLE()).withUIDs().
		us(tagSamplesPerPixel, 1).str(tagPhotometric, "CS", "MONOCHROME2").
		str(tagNumberOfFrames, "IS", strconv.Itoa(len(values))).
		us(tagRows, 16).us(tagColumns, 16).us(tagBitsAllocated, 8).us(tagBitsStored, 8).us(tagHighBit, 7).
		str(tagWindowCenter, "DS", "127.5").str(tagWindowWidth, "DS", "256").
		header(tagPixelData, "OB", undefinedLength)
	var table []byte
	var offset uint32
	for _, f := range frames {
		table = binary.LittleEndian.AppendUint32(table, offset)
		offset += uint32(len(f)) + 8
		if split {
			offset += 8
		}
	}
	if !bot {
		table = nil
	}
	b.elem(tagItem, "", table)
	for _, f := range frames {
		if split {
			b.elem(tagItem, "", f[:10]).elem(tagItem, "", f[10:])
			continue
		}
		b.elem(tagItem, "", f)
	}
	return b.header(tagSeqDelim, "", 0).bytes()
}

func TestRenderFrameEncapsulatedFrames(t *testing.T) {
	t.Parallel()
	values := []uint8{30, 130, 230}
	for _, tc := range []struct {
		name       string
		bot, split bool
	}{
		{"OneFragmentPerFrame", false, false},
		{"BasicOffsetTable", true, false},
		{"SplitWithOffsetTable", true, true},
		{"SplitWithoutOffsetTable", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data := encapsulated(t, values, tc.bot, tc.split)
			for i, v := range values {
				img, err := RenderFrame(bytes.NewReader(data), i)
				require.NoError(t, err)
				gray := img.(*image.Gray)
				require.InDelta(t, float64(v), float64(gray.Pix[8*16+8]), 3, "frame %d", i)
			}
		})
	}
}

func TestRenderFrameJPEGExtended8Bit(t *testing.T) {
	t.Parallel()
	// JPEG Extended (Process 2 & 4) with 8-bit samples is decodable like
	// Baseline; the UIDs have the same length.
	data := bytes.Replace(readTestdata(t, "SC_rgb_jpeg_dcmtk.dcm"), []byte(tsJPEGBaseline), []byte(tsJPEGExtended), 1)
	img, err := RenderFrame(bytes.NewReader(data), 0)
	require.NoError(t, err)
	requireColour(t, img, 50, 2, 255, 0, 0, 8)
}
