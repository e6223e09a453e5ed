package photo

// Default limits and thresholds; see Options. The quality thresholds were
// calibrated on the photos in testdata/ (README.md there has the numbers).
const (
	DefaultMaxPixels         = 50_000_000
	DefaultMaxSide           = 20_000
	DefaultMinSide           = 600
	DefaultBlurThreshold     = 30
	DefaultMinMeanLuma       = 40
	DefaultMaxMeanLuma       = 215
	DefaultMaxDarkFraction   = 0.6
	DefaultMaxBrightFraction = 0.25
	DefaultJPEGQuality       = 95
)

// Options are the limits and thresholds for Process and Assess. The zero
// value uses the defaults above; a negative number turns a quality check
// off.
type Options struct {
	// MaxPixels refuses images with more pixels (width*height) than this,
	// before decoding.
	MaxPixels int64
	// MaxSide refuses images wider or taller than this, before decoding.
	MaxSide int
	// MinSide warns (too_small) when the shorter side is below this.
	MinSide int
	// BlurThreshold warns (blurred) when Measures.LaplacianVariance is below
	// this.
	BlurThreshold float64
	// MinMeanLuma and MaxDarkFraction warn (under_exposed) when the mean
	// luma is below MinMeanLuma or more than MaxDarkFraction of the pixels
	// are black.
	MinMeanLuma     float64
	MaxDarkFraction float64
	// MaxMeanLuma and MaxBrightFraction warn (over_exposed) when the mean
	// luma is above MaxMeanLuma or more than MaxBrightFraction of the pixels
	// are white.
	MaxMeanLuma       float64
	MaxBrightFraction float64
	// JPEGQuality is the quality of a JPEG that has to be re-encoded
	// (orientation applied).
	JPEGQuality int
	// DropICC removes ICC colour profiles too. By default they are kept: a
	// profile describes the camera's or the editor's colour space (a name
	// such as "Display P3" and a copyright line), not the patient, and
	// without it skin colours shift, which matters in dermatology.
	DropICC bool
}

// withDefaults returns o with zero fields set to their defaults.
func (o Options) withDefaults() Options {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	if o.MaxPixels <= 0 {
		o.MaxPixels = DefaultMaxPixels
	}
	if o.MaxSide <= 0 {
		o.MaxSide = DefaultMaxSide
	}
	if o.MinSide == 0 {
		o.MinSide = DefaultMinSide
	}
	if o.JPEGQuality <= 0 || o.JPEGQuality > 100 {
		o.JPEGQuality = DefaultJPEGQuality
	}
	def(&o.BlurThreshold, DefaultBlurThreshold)
	def(&o.MinMeanLuma, DefaultMinMeanLuma)
	def(&o.MaxMeanLuma, DefaultMaxMeanLuma)
	def(&o.MaxDarkFraction, DefaultMaxDarkFraction)
	def(&o.MaxBrightFraction, DefaultMaxBrightFraction)
	return o
}
