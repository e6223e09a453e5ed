package photo

import (
	"image"
	"image/color"
	"image/color/palette"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOrient(t *testing.T) {
	t.Parallel()

	// Odd and even sizes; YCbCr with subsampling that lines up after the
	// turn (even sizes) keeps its type, otherwise it becomes NRGBA.
	newImages := func() map[string]image.Image {
		m := map[string]image.Image{}
		for _, size := range []image.Point{{6, 4}, {5, 3}} {
			r := image.Rect(0, 0, size.X, size.Y)
			gray, gray16 := image.NewGray(r), image.NewGray16(r)
			rgba, nrgba, cmyk := image.NewRGBA(r), image.NewNRGBA(r), image.NewCMYK(r)
			rgba64, nrgba64 := image.NewRGBA64(r), image.NewNRGBA64(r)
			pal := image.NewPaletted(r, palette.Plan9)
			for y := range size.Y {
				for x := range size.X {
					v := uint8(40*y + 7*x)
					gray.SetGray(x, y, color.Gray{v})
					gray16.SetGray16(x, y, color.Gray16{uint16(v) << 8})
					rgba.SetRGBA(x, y, color.RGBA{v, 255 - v, uint8(x), 255})
					nrgba.SetNRGBA(x, y, color.NRGBA{v, 3 * v, uint8(y), 128})
					cmyk.SetCMYK(x, y, color.CMYK{v, 1, 2, 3})
					rgba64.SetRGBA64(x, y, color.RGBA64{uint16(v), 2, 3, 0xFFFF})
					nrgba64.SetNRGBA64(x, y, color.NRGBA64{uint16(v), 2, 3, 4})
					pal.SetColorIndex(x, y, v)
				}
			}
			name := func(s string) string { return s + "/" + size.String() }
			m[name("Gray")], m[name("Gray16")] = gray, gray16
			m[name("RGBA")], m[name("NRGBA")], m[name("CMYK")] = rgba, nrgba, cmyk
			m[name("RGBA64")], m[name("NRGBA64")], m[name("Paletted")] = rgba64, nrgba64, pal
			for _, ratio := range []image.YCbCrSubsampleRatio{
				image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
				image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411,
			} {
				yc := image.NewYCbCr(r, ratio)
				for i := range yc.Y {
					yc.Y[i] = uint8(17 * i)
				}
				for i := range yc.Cb {
					yc.Cb[i], yc.Cr[i] = uint8(31*i), uint8(255-13*i)
				}
				m[name("YCbCr"+ratio.String())] = yc
			}
		}
		// A sub-image that does not start at the origin.
		m["SubImage"] = m["RGBA/(6,4)"].(*image.RGBA).SubImage(image.Rect(1, 1, 5, 4))
		return m
	}

	for name, src := range newImages() {
		for o := 1; o <= 8; o++ {
			got := orient(src, o)
			b := src.Bounds()
			ow, oh := b.Dx(), b.Dy()
			if o >= 5 {
				ow, oh = oh, ow
			}
			require.Equal(t, image.Rect(0, 0, ow, oh), got.Bounds().Sub(got.Bounds().Min), "%s o=%d", name, o)
			for y := range oh {
				for x := range ow {
					sx, sy := storedPos(o, x, y, ow, oh)
					want := src.At(b.Min.X+sx, b.Min.Y+sy)
					require.Equal(t, color.NRGBAModel.Convert(want), color.NRGBAModel.Convert(got.At(got.Bounds().Min.X+x, got.Bounds().Min.Y+y)),
						"%s o=%d (%d,%d)", name, o, x, y)
				}
			}
		}
	}
}

func TestOrientKeepsType(t *testing.T) {
	t.Parallel()

	yc := image.NewYCbCr(image.Rect(0, 0, 8, 4), image.YCbCrSubsampleRatio422)
	got := orient(yc, 6)
	require.IsType(t, &image.YCbCr{}, got)
	require.Equal(t, image.YCbCrSubsampleRatio440, got.(*image.YCbCr).SubsampleRatio)

	odd := image.NewYCbCr(image.Rect(0, 0, 7, 4), image.YCbCrSubsampleRatio420)
	require.IsType(t, &image.NRGBA{}, orient(odd, 6))

	require.Same(t, odd, orient(odd, 1))
	require.Same(t, odd, orient(odd, 0))
	require.Same(t, odd, orient(odd, 9))
}
