package photo

import (
	"bytes"
	"image"
	"image/jpeg"
	"image/png"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestThumbnailAndPreview(t *testing.T) {
	t.Parallel()

	retina := decodeTestdata(t, "retina.jpg") // 1411 x 1411
	wide := quadrants(1000, 400)
	gray16 := image.NewGray16(image.Rect(0, 0, 300, 900)) // like a DICOM frame

	tests := []struct {
		name    string
		img     image.Image
		maxSide int
		want    image.Point
	}{
		{"Square", retina, 256, image.Pt(256, 256)},
		{"Wide", wide, 250, image.Pt(250, 100)},
		{"Tall16Bit", gray16, 300, image.Pt(100, 300)},
		{"Thin", image.NewRGBA(image.Rect(0, 0, 5000, 2)), 100, image.Pt(100, 1)},
	}
	for _, tt := range tests {
		for name, resize := range map[string]func(image.Image, int) image.Image{"Thumbnail": Thumbnail, "Preview": Preview} {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				got := resize(tt.img, tt.maxSide)
				require.IsType(t, &image.RGBA{}, got)
				require.Equal(t, tt.want, got.Bounds().Size())
			})
		}
	}

	t.Run("ColoursKept", func(t *testing.T) {
		t.Parallel()
		got := Preview(wide, 250)
		requireColourNear(t, quadrantColour(false, false), got.At(60, 25), 2, "red")
		requireColourNear(t, quadrantColour(true, true), got.At(190, 75), 2, "white")
	})
	t.Run("NoUpscale", func(t *testing.T) {
		t.Parallel()
		require.Same(t, wide, Thumbnail(wide, 1000))
		require.Same(t, wide, Preview(wide, 2000))
		require.Same(t, wide, Preview(wide, 0))
	})
}

func TestEncode(t *testing.T) {
	t.Parallel()

	img := Thumbnail(decodeTestdata(t, "retina.jpg"), 200)

	var j bytes.Buffer
	require.NoError(t, EncodeJPEG(&j, img, 0))
	got, err := jpeg.Decode(&j)
	require.NoError(t, err)
	require.Equal(t, img.Bounds(), got.Bounds())

	var p bytes.Buffer
	require.NoError(t, EncodePNG(&p, img))
	got, err = png.Decode(&p)
	require.NoError(t, err)
	require.Equal(t, img, got)

	require.Error(t, EncodePNG(&p, image.NewRGBA(image.Rectangle{})))
}
