package web

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHumanDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		45 * time.Second: "45 s", 12 * time.Minute: "12 min", 3*time.Hour + 20*time.Minute: "3 h 20 min",
		5 * time.Hour: "5 h", 52 * time.Hour: "2 d 4 h", 48 * time.Hour: "2 d",
	} {
		require.Equal(t, want, humanDuration(d))
	}
}

func TestBoxChart(t *testing.T) {
	t.Parallel()
	svg := string(boxChart(`Stage times, <derm> & co`, []boxRow{
		{Label: "site-a: submitted → routed", Min: time.Second, P25: 2 * time.Second, P50: 3 * time.Second, P75: 4 * time.Second, Max: 9 * time.Second, Count: 4},
		{Label: "site-a: routed → claimed", Min: time.Hour, P25: 2 * time.Hour, P50: 3 * time.Hour, P75: 5 * time.Hour, Max: 30 * time.Hour, Count: 4},
	}, []int{0, 1}))
	require.True(t, strings.HasPrefix(svg, "<svg"), svg)
	require.Contains(t, svg, "Stage times, &lt;derm&gt; &amp; co", "texts are escaped")
	require.Contains(t, svg, "site-a: routed → claimed: median 3 h, quartiles 2 h to 5 h, range 1 h to 1 d 6 h, 4 cases")
	require.Contains(t, svg, ">12h<", "round ticks on the time axis")
	require.NotContains(t, svg, "NaN")
	require.NotContains(t, string(boxChart("empty", nil, nil)), "NaN")
	require.Contains(t, string(barChart("SLA breaches", []string{"derm"}, []int{3})), ">3<")
}
