package photo

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestProcessGolden runs every photo in testdata through Process and
// compares the Result (measures rounded to 0.01) with
// testdata/golden/<file>.json; run with -update to rewrite them.
func TestProcessGolden(t *testing.T) {
	t.Parallel()

	paths, err := filepath.Glob(filepath.Join("testdata", "*.*"))
	require.NoError(t, err)
	for _, p := range paths {
		name := filepath.Base(p)
		if filepath.Ext(name) == ".md" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res, _, err := process(t, readTestdata(t, name), Options{})
			require.NoError(t, err)
			round := func(v *float64) { *v = math.Round(*v*100) / 100 }
			round(&res.Measures.LaplacianVariance)
			round(&res.Measures.MeanLuma)
			round(&res.Measures.DarkFraction)
			round(&res.Measures.BrightFraction)
			got, err := json.MarshalIndent(res, "", "  ")
			require.NoError(t, err)
			got = append(got, '\n')

			golden := filepath.Join("testdata", "golden", name+".json")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
				require.NoError(t, os.WriteFile(golden, got, 0o644))
				return
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test -update to create it")
			require.Equal(t, string(want), string(bytes.TrimSpace(got))+"\n")
		})
	}
}
