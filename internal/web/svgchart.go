package web

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"
)

// boxRow is one row of a box chart: a label and the minimum, quartiles and
// maximum of a duration.
type boxRow struct {
	Label                   string
	Min, P25, P50, P75, Max time.Duration
	Count                   int
}

// chartPalette colours the rows of a chart by their group.
var chartPalette = []string{"#0b57d0", "#1e7b34", "#8a5a00", "#7b1fa2", "#b3261e"}

// boxChart draws rows as horizontal box plots (whisker from minimum to
// maximum, box from the first to the third quartile, a line at the
// median) on a shared time axis, as an accessible SVG with a title. The
// colour of a row is that of its group (colour[i]).
func boxChart(title string, rows []boxRow, colour []int) template.HTML {
	const (
		width, left, right, top, rowH, axisH = 760, 230, 24, 34, 26, 34
	)
	height := top + rowH*len(rows) + axisH
	var max time.Duration
	for _, r := range rows {
		if r.Max > max {
			max = r.Max
		}
	}
	step, unit := niceStep(max)
	ticks := int(math.Ceil(float64(max) / float64(step)))
	if ticks < 1 {
		ticks = 1
	}
	span := float64(step) * float64(ticks)
	plot := float64(width - left - right)
	x := func(d time.Duration) float64 { return float64(left) + plot*float64(d)/span }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" role="img" aria-labelledby="%[1]s" viewBox="0 0 %[2]d %[3]d" width="%[2]d" height="%[3]d" xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="12">`,
		svgID(title), width, height)
	fmt.Fprintf(&b, `<title id="%s">%s</title>`, svgID(title), esc(title))
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="14" font-weight="700">%s</text>`, 8, esc(title))
	for i := 0; i <= ticks; i++ {
		tx := x(step * time.Duration(i))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#d5d9e0"/>`, tx, top-4, tx, height-axisH+4)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555e6e">%s</text>`, tx, height-axisH+20,
			esc(tickLabel(step*time.Duration(i), unit)))
	}
	for i, r := range rows {
		y := float64(top + i*rowH)
		mid := y + rowH/2
		c := chartPalette[0]
		if i < len(colour) {
			c = chartPalette[colour[i]%len(chartPalette)]
		}
		fmt.Fprintf(&b, `<g><title>%s: median %s, quartiles %s to %s, range %s to %s, %d cases</title>`, esc(r.Label),
			humanDuration(r.P50), humanDuration(r.P25), humanDuration(r.P75), humanDuration(r.Min), humanDuration(r.Max), r.Count)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`, left-8, mid, esc(r.Label))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`, x(r.Min), mid, x(r.Max), mid, c)
		bw := math.Max(x(r.P75)-x(r.P25), 2)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s" fill-opacity=".25" stroke="%s"/>`,
			x(r.P25), y+5, bw, rowH-10, c, c)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/>`, x(r.P50), y+4, x(r.P50), y+rowH-4, c)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" dominant-baseline="middle" fill="#1d2330">%s</text></g>`,
			math.Min(x(r.Max)+6, float64(width-right)-40), mid, esc(humanDuration(r.P50)))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every text in it is escaped by esc
}

// barChart draws labelled values as horizontal bars, as an SVG.
func barChart(title string, labels []string, values []int) template.HTML {
	const width, left, top, rowH = 560, 230, 34, 24
	height := top + rowH*len(labels) + 10
	max := 1
	for _, v := range values {
		if v > max {
			max = v
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" role="img" aria-labelledby="%[1]s" viewBox="0 0 %[2]d %[3]d" width="%[2]d" height="%[3]d" xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="12">`,
		svgID(title), width, height)
	fmt.Fprintf(&b, `<title id="%s">%s</title><text x="8" y="20" font-size="14" font-weight="700">%s</text>`, svgID(title), esc(title), esc(title))
	for i, l := range labels {
		y := top + i*rowH
		w := float64(width-left-60) * float64(values[i]) / float64(max)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" dominant-baseline="middle">%s</text>`, left-8, y+rowH/2, esc(l))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`, left, y+4, w, rowH-8, chartPalette[i%len(chartPalette)])
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" dominant-baseline="middle">%d</text>`, float64(left)+w+6, y+rowH/2, values[i])
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every text in it is escaped by esc
}

func esc(s string) string { return template.HTMLEscapeString(s) }

// svgID is an element id made of a title.
func svgID(title string) string {
	var b strings.Builder
	b.WriteString("chart-")
	for _, r := range strings.ToLower(title) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

// niceStep is a round tick step for an axis up to max, and its unit.
func niceStep(max time.Duration) (time.Duration, time.Duration) {
	for _, s := range []struct{ step, unit time.Duration }{
		{time.Second, time.Second}, {5 * time.Second, time.Second}, {15 * time.Second, time.Second},
		{time.Minute, time.Minute}, {5 * time.Minute, time.Minute}, {15 * time.Minute, time.Minute},
		{time.Hour, time.Hour}, {3 * time.Hour, time.Hour}, {6 * time.Hour, time.Hour}, {12 * time.Hour, time.Hour},
		{24 * time.Hour, 24 * time.Hour}, {48 * time.Hour, 24 * time.Hour}, {7 * 24 * time.Hour, 24 * time.Hour},
	} {
		if max <= 6*s.step {
			return s.step, s.unit
		}
	}
	return 30 * 24 * time.Hour, 24 * time.Hour
}

func tickLabel(d, unit time.Duration) string {
	switch unit {
	case time.Second:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case time.Minute:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}

// humanDuration is a duration as people say it: 45 s, 12 min, 3 h 20 min, 2 d 4 h.
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 24*time.Hour:
		h, m := int(d.Hours()), int(d.Minutes())%60
		if m == 0 {
			return fmt.Sprintf("%d h", h)
		}
		return fmt.Sprintf("%d h %d min", h, m)
	}
	days, h := int(d.Hours())/24, int(d.Hours())%24
	if h == 0 {
		return fmt.Sprintf("%d d", days)
	}
	return fmt.Sprintf("%d d %d h", days, h)
}
