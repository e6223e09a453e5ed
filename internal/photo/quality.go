package photo

import (
	"fmt"
	"image"
	"math"
)

// MeasureSide is the longest side, in pixels, of the greyscale copy on which
// the Laplacian variance is measured. The image is shrunk by a whole factor
// (averaging k x k blocks), so the copy's longer side is between
// MeasureSide/2 and MeasureSide; images already smaller are used as they are.
const MeasureSide = 512

// Luma levels counted as clipped in Measures.DarkFraction and
// Measures.BrightFraction.
const (
	DarkLuma   = 10
	BrightLuma = 245
)

// Assess measures img and returns the quality warnings it deserves under
// opts (zero fields take their defaults). It reads every pixel once and
// allocates only the small greyscale copy.
func Assess(img image.Image, opts Options) (Measures, []Warning) {
	opts = opts.withDefaults()
	m := Measure(img)
	b := img.Bounds()
	return m, opts.warnings(m, b.Dx(), b.Dy())
}

// Measure computes the quality measures of img: the luma histogram over all
// pixels, and the Laplacian variance of a box-downscaled greyscale copy.
func Measure(img image.Image) Measures {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return Measures{}
	}
	k := (max(w, h) + MeasureSide - 1) / MeasureSide
	sw, sh := w/k, h/k
	sums := make([]uint32, sw*sh) // each cell sums k*k lumas: at most 255*k*k
	var hist [256]int64
	row := make([]uint8, w)
	for y := range h {
		lumaRow(img, b.Min.Y+y, row)
		for _, l := range row {
			hist[l]++
		}
		cy := y / k
		if cy >= sh {
			continue
		}
		cells := sums[cy*sw : (cy+1)*sw]
		for cx := range cells {
			var s uint32
			for _, l := range row[cx*k : (cx+1)*k] {
				s += uint32(l)
			}
			cells[cx] += s
		}
	}

	var m Measures
	n := float64(w) * float64(h)
	var total float64
	for l, c := range hist {
		total += float64(l) * float64(c)
	}
	m.MeanLuma = total / n
	var dark, bright int64
	for l := 0; l <= DarkLuma; l++ {
		dark += hist[l]
	}
	for l := BrightLuma; l <= 255; l++ {
		bright += hist[l]
	}
	m.DarkFraction = float64(dark) / n
	m.BrightFraction = float64(bright) / n
	m.LaplacianVariance = laplacianVariance(sums, sw, sh, float64(k*k))
	return m
}

// laplacianVariance returns the variance of the 4-neighbour Laplacian over
// the interior of a sw x sh grid of block sums, each divided by area.
func laplacianVariance(sums []uint32, sw, sh int, area float64) float64 {
	if sw < 3 || sh < 3 {
		return 0
	}
	var s, s2 float64
	for y := 1; y < sh-1; y++ {
		for x := 1; x < sw-1; x++ {
			i := y*sw + x
			l := float64(sums[i-1]) + float64(sums[i+1]) + float64(sums[i-sw]) + float64(sums[i+sw]) - 4*float64(sums[i])
			l /= area
			s += l
			s2 += l * l
		}
	}
	n := float64((sw - 2) * (sh - 2))
	mean := s / n
	return math.Max(0, s2/n-mean*mean)
}

// lumaRow writes the Rec. 601 luma (0-255) of row y of img into dst, which
// has the image's width. Common decoder outputs are read directly.
func lumaRow(img image.Image, y int, dst []uint8) {
	b := img.Bounds()
	switch s := img.(type) {
	case *image.YCbCr:
		i := s.YOffset(b.Min.X, y)
		copy(dst, s.Y[i:i+len(dst)])
	case *image.NYCbCrA: // WebP with alpha
		i := s.YOffset(b.Min.X, y)
		copy(dst, s.Y[i:i+len(dst)])
	case *image.Gray:
		i := s.PixOffset(b.Min.X, y)
		copy(dst, s.Pix[i:i+len(dst)])
	case *image.RGBA:
		rgbLuma(dst, s.Pix[s.PixOffset(b.Min.X, y):])
	case *image.NRGBA:
		rgbLuma(dst, s.Pix[s.PixOffset(b.Min.X, y):])
	default:
		for x := range dst {
			r, g, bl, _ := img.At(b.Min.X+x, y).RGBA()
			l16 := (19595*uint64(r) + 38470*uint64(g) + 7471*uint64(bl) + 1<<15) >> 16
			dst[x] = uint8((l16*255 + 65535/2) / 65535)
		}
	}
}

// rgbLuma converts 4-byte RGBA pixels to luma.
func rgbLuma(dst, pix []uint8) {
	for x := range dst {
		p := pix[4*x : 4*x+3]
		dst[x] = uint8((19595*uint32(p[0]) + 38470*uint32(p[1]) + 7471*uint32(p[2]) + 1<<15) >> 16)
	}
}

// warnings applies the thresholds in o to measures m of a w x h photo.
func (o Options) warnings(m Measures, w, h int) []Warning {
	var ws []Warning
	if short := min(w, h); o.MinSide > 0 && short < o.MinSide {
		ws = append(ws, Warning{WarnTooSmall, fmt.Sprintf(
			"photo is only %dx%d pixels; at least %d pixels on the shorter side is recommended", w, h, o.MinSide)})
	}
	under := (o.MinMeanLuma > 0 && m.MeanLuma < o.MinMeanLuma) ||
		(o.MaxDarkFraction > 0 && m.DarkFraction > o.MaxDarkFraction)
	over := (o.MaxMeanLuma > 0 && m.MeanLuma > o.MaxMeanLuma) ||
		(o.MaxBrightFraction > 0 && m.BrightFraction > o.MaxBrightFraction)
	// The Laplacian variance grows with the square of contrast, and bad
	// exposure crushes contrast: a sharp photo taken too dark measures as
	// blurred. So blur is judged only on a well-exposed photo.
	if !under && !over && o.BlurThreshold > 0 && m.LaplacianVariance < o.BlurThreshold {
		ws = append(ws, Warning{WarnBlurred, fmt.Sprintf(
			"photo looks blurred (sharpness %.0f, expected at least %.0f); hold the camera steady and focus on the lesion",
			m.LaplacianVariance, o.BlurThreshold)})
	}
	if under {
		ws = append(ws, Warning{WarnUnderExposed, fmt.Sprintf(
			"photo is too dark (mean brightness %.0f of 255, %.0f%% black); use more light",
			m.MeanLuma, 100*m.DarkFraction)})
	}
	if over {
		ws = append(ws, Warning{WarnOverExposed, fmt.Sprintf(
			"photo is too bright (mean brightness %.0f of 255, %.0f%% white); avoid flash glare and direct light",
			m.MeanLuma, 100*m.BrightFraction)})
	}
	return ws
}
