package uploader

import (
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// BarReporter draws progress bars on a terminal with mpb (a maintained,
// widely used library that redraws many bars at once without flicker): one
// per file in flight, and a total with bytes, files, rate and time left.
// Lines about skipped and refused files are printed above the bars.
type BarReporter struct {
	p      *mpb.Progress
	total  *mpb.Bar
	mu     sync.Mutex
	bars   map[string]*mpb.Bar
	found  atomic.Int64
	done   atomic.Int64
	totalB atomic.Int64
	w      io.Writer
}

// NewBarReporter draws on w (a terminal).
func NewBarReporter(w io.Writer) *BarReporter {
	b := &BarReporter{p: mpb.New(mpb.WithOutput(w), mpb.WithAutoRefresh(),
		mpb.WithRefreshRate(150*time.Millisecond)),
		bars: map[string]*mpb.Bar{}, w: w}
	b.total = b.p.New(0, mpb.BarStyle(),
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string {
			return fmt.Sprintf("total %d/%d files", b.done.Load(), b.found.Load())
		}, decor.WCSyncSpaceR)),
		mpb.AppendDecorators(decor.Counters(decor.SizeB1024(0), "% .1f / % .1f", decor.WCSyncSpace),
			decor.EwmaSpeed(decor.SizeB1024(0), "% .1f", 30, decor.WCSyncSpace),
			decor.Name(" left ", decor.WC{}), decor.EwmaETA(decor.ET_STYLE_GO, 30)))
	return b
}

// Found adds a file to the total.
func (b *BarReporter) Found(e Event) {
	b.found.Add(1)
	b.total.SetTotal(b.totalB.Add(e.Size), false)
}

// Started adds a bar for a file in flight.
func (b *BarReporter) Started(e Event) {
	bar := b.p.New(e.Size, mpb.BarStyle(), mpb.BarRemoveOnComplete(),
		mpb.PrependDecorators(decor.Name(short(e.Path), decor.WCSyncSpaceR)),
		mpb.AppendDecorators(decor.Counters(decor.SizeB1024(0), "% .1f / % .1f", decor.WCSyncSpace),
			decor.EwmaSpeed(decor.SizeB1024(0), "% .1f", 30, decor.WCSyncSpace)))
	b.mu.Lock()
	b.bars[e.Path] = bar
	b.mu.Unlock()
}

// Progress moves the file's bar and the total.
func (b *BarReporter) Progress(path string, n int64) {
	b.mu.Lock()
	bar := b.bars[path]
	b.mu.Unlock()
	if bar != nil {
		bar.EwmaIncrInt64(n, 150*time.Millisecond)
	}
	b.total.EwmaIncrInt64(n, 150*time.Millisecond)
}

func (b *BarReporter) end(path string) {
	b.done.Add(1)
	b.mu.Lock()
	bar := b.bars[path]
	delete(b.bars, path)
	b.mu.Unlock()
	if bar != nil {
		bar.Abort(true)
	}
}

func (b *BarReporter) line(format string, args ...any) {
	fmt.Fprintf(b.p, format+"\n", args...)
}

// Resumed prints a line.
func (b *BarReporter) Resumed(e Event) {
	b.line("resume: %s (%d parts already there)", e.Path, e.Parts)
}

// Sent ends the file's bar.
func (b *BarReporter) Sent(e Event) {
	for _, w := range e.Warnings {
		b.line("warning: %s: %s", e.Path, w)
	}
	b.end(e.Path)
}

// Already counts a file that was there (its bytes count as done).
func (b *BarReporter) Already(e Event) {
	b.total.IncrInt64(e.Size)
	b.done.Add(1)
}

// Skipped prints a line.
func (b *BarReporter) Skipped(e Event) { b.line("skip: %s: %s", e.Path, e.Reason) }

// Refused prints a line and ends the bar.
func (b *BarReporter) Refused(e Event) {
	b.line("refused: %s: %s", e.Path, e.Reason)
	b.end(e.Path)
}

// Failed prints a line.
func (b *BarReporter) Failed(e Event) { b.line("error: %s: %s", e.Path, e.Reason) }

// Retry prints a line.
func (b *BarReporter) Retry(attempt int, wait time.Duration, err error) {
	b.line("retry: attempt %d failed (%v); again in %s", attempt, err, wait.Round(time.Millisecond))
}

// Done completes the total and waits for the last redraw.
func (b *BarReporter) Done(Summary) {
	b.mu.Lock()
	for p, bar := range b.bars {
		bar.Abort(true)
		delete(b.bars, p)
	}
	b.mu.Unlock()
	b.total.SetTotal(-1, true)
	b.p.Wait()
}

// short is a file's name for its bar: its folder and name, at most 32 characters.
func short(p string) string {
	s := filepath.Join(filepath.Base(filepath.Dir(p)), filepath.Base(p))
	if len(s) > 32 {
		s = "…" + s[len(s)-31:]
	}
	return fmt.Sprintf("%-32s", s)
}
