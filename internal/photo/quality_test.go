package photo

import (
	"image"
	"image/color"
	"math"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/image/draw"
)

// calibration caches the images built by calibrationImages.
var calibration struct {
	once   sync.Once
	images map[string]image.Image
}

// calibrationImages returns the real photos and the degraded versions the
// quality thresholds were calibrated on (see testdata/README.md). They are
// built once: blurring a 2 MP photo takes a moment.
func calibrationImages(t testing.TB) map[string]image.Image {
	t.Helper()
	calibration.once.Do(func() {
		retina := decodeTestdata(t, "retina.jpg")
		ihc := decodeTestdata(t, "ihc.png")
		calibration.images = map[string]image.Image{
			"retina":               retina,
			"retina/blur-sigma1":   gaussianBlur(retina, 1),
			"retina/blur-sigma1.5": gaussianBlur(retina, 1.5),
			"retina/blur-sigma2":   gaussianBlur(retina, 2),
			"retina/blur-sigma3":   gaussianBlur(retina, 3),
			"retina/blur-sigma5":   gaussianBlur(retina, 5),
			"retina/dark-x0.25":    mapLevels(retina, func(v float64) float64 { return v * 0.25 }),
			"retina/dark-gamma3":   mapLevels(retina, func(v float64) float64 { return 255 * math.Pow(v/255, 3) }),
			"retina/bright-x3":     mapLevels(retina, func(v float64) float64 { return v * 3 }),
			"retina/bright-lift":   mapLevels(retina, func(v float64) float64 { return 255 - (255-v)*0.2 }),
			"retina/small-400":     Preview(retina, 400),
			"ihc":                  ihc,
			"ihc/blur-sigma1":      gaussianBlur(ihc, 1),
			"ihc/blur-sigma2":      gaussianBlur(ihc, 2),
			"microaneurysms":       decodeTestdata(t, "microaneurysms.png"),
		}
	})
	require.NotNil(t, calibration.images, "building the calibration images failed")
	return calibration.images
}

func TestAssessCalibration(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		want []WarningCode
	}{
		{"retina", nil},
		{"retina/blur-sigma1", nil},
		{"retina/blur-sigma1.5", nil},
		{"retina/blur-sigma5", []WarningCode{WarnBlurred}},
		{"ihc/blur-sigma1", []WarningCode{WarnTooSmall}},
		{"retina/blur-sigma2", []WarningCode{WarnBlurred}},
		{"retina/blur-sigma3", []WarningCode{WarnBlurred}},
		{"retina/dark-x0.25", []WarningCode{WarnUnderExposed}},
		{"retina/dark-gamma3", []WarningCode{WarnUnderExposed}},
		{"retina/bright-x3", []WarningCode{WarnOverExposed}},
		{"retina/bright-lift", []WarningCode{WarnOverExposed}},
		{"retina/small-400", []WarningCode{WarnTooSmall}},
		{"ihc", []WarningCode{WarnTooSmall}},
		{"ihc/blur-sigma2", []WarningCode{WarnTooSmall, WarnBlurred}},
		{"microaneurysms", []WarningCode{WarnTooSmall}},
	}
	images := calibrationImages(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, ws := Assess(images[tt.name], Options{})
			t.Logf("%-20s laplacian variance %6.1f  mean luma %5.1f  dark %4.2f  bright %4.2f",
				tt.name, m.LaplacianVariance, m.MeanLuma, m.DarkFraction, m.BrightFraction)
			var codes []WarningCode
			for _, w := range ws {
				codes = append(codes, w.Code)
				require.NotEmpty(t, w.Message)
			}
			require.Equal(t, tt.want, codes)
		})
	}
}

func TestAssessOptions(t *testing.T) {
	t.Parallel()

	small := image.NewGray(image.Rect(0, 0, 100, 50)) // black, flat, small
	_, ws := Assess(small, Options{})
	require.Equal(t, []Warning{
		{WarnTooSmall, "photo is only 100x50 pixels; at least 600 pixels on the shorter side is recommended"},
		{WarnUnderExposed, "photo is too dark (mean brightness 0 of 255, 100% black); use more light"},
	}, ws)

	_, ws = Assess(small, Options{MinSide: -1, BlurThreshold: -1, MinMeanLuma: -1, MaxDarkFraction: -1})
	require.Empty(t, ws, "negative values turn checks off")

	_, ws = Assess(small, Options{MinSide: 40, MinMeanLuma: -1, MaxDarkFraction: -1})
	require.Equal(t, WarnBlurred, ws[0].Code)
}

func TestMeasure(t *testing.T) {
	t.Parallel()

	t.Run("Uniform", func(t *testing.T) {
		t.Parallel()
		img := image.NewRGBA(image.Rect(0, 0, 1000, 700))
		draw.Draw(img, img.Bounds(), image.NewUniform(color.RGBA{100, 100, 100, 255}), image.Point{}, draw.Src)
		require.Equal(t, Measures{MeanLuma: 100}, Measure(img))
	})
	t.Run("HalfBlackHalfWhite", func(t *testing.T) {
		t.Parallel()
		img := image.NewGray(image.Rect(0, 0, 600, 600))
		draw.Draw(img, image.Rect(300, 0, 600, 600), image.White, image.Point{}, draw.Src)
		m := Measure(img)
		require.InDelta(t, 127.5, m.MeanLuma, 1e-9)
		require.InDelta(t, 0.5, m.DarkFraction, 1e-9)
		require.InDelta(t, 0.5, m.BrightFraction, 1e-9)
		require.Positive(t, m.LaplacianVariance)
	})
	t.Run("SameForEveryPixelType", func(t *testing.T) {
		t.Parallel()
		src := calibrationImages(t)["retina/small-400"]
		want := Measure(src)
		for _, img := range []image.Image{
			convert(src, image.NewNRGBA), convert(src, image.NewRGBA64), convert(src, image.NewNRGBA64),
		} {
			got := Measure(img)
			require.InDelta(t, want.MeanLuma, got.MeanLuma, 0.01)
			require.InDelta(t, want.LaplacianVariance, got.LaplacianVariance, 0.1)
		}
	})
	t.Run("Empty", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, Measures{}, Measure(image.NewGray(image.Rectangle{})))
	})
}

// convert copies img into a new image made by newImage.
func convert[T draw.Image](img image.Image, newImage func(image.Rectangle) T) image.Image {
	dst := newImage(img.Bounds())
	draw.Draw(dst, dst.Bounds(), img, img.Bounds().Min, draw.Src)
	return dst
}

func TestProcessQualityWarnings(t *testing.T) {
	t.Parallel()

	images := calibrationImages(t)
	tests := []struct {
		name string
		want []WarningCode
	}{
		{"retina", nil},
		{"retina/blur-sigma3", []WarningCode{WarnBlurred}},
		{"retina/dark-x0.25", []WarningCode{WarnUnderExposed}},
		{"retina/bright-x3", []WarningCode{WarnOverExposed}},
		{"retina/small-400", []WarningCode{WarnTooSmall}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, _, err := process(t, encodeJPEG(t, images[tt.name]), Options{})
			require.NoError(t, err)
			var codes []WarningCode
			for _, w := range res.Warnings {
				codes = append(codes, w.Code)
			}
			require.Equal(t, tt.want, codes)
		})
	}
}
