package uploader

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// LineReporter writes plain lines, for output that is not a terminal: one
// for each file skipped, refused or resumed, and a progress line every
// Every while files are sent.
type LineReporter struct {
	mu      sync.Mutex
	w       io.Writer
	every   time.Duration
	start   time.Time
	last    time.Time
	found   int
	done    int
	bytes   int64
	total   int64
	verbose bool
}

// NewLineReporter writes to w, with a progress line every every; verbose
// adds a line per file sent.
func NewLineReporter(w io.Writer, every time.Duration, verbose bool) *LineReporter {
	now := time.Now()
	return &LineReporter{w: w, every: every, start: now, last: now, verbose: verbose}
}

func (l *LineReporter) printf(format string, args ...any) {
	fmt.Fprintf(l.w, format+"\n", args...)
}

// Found counts a file to send (or check).
func (l *LineReporter) Found(e Event) {
	l.mu.Lock()
	l.found++
	l.total += e.Size
	l.mu.Unlock()
}

// Started is silent.
func (l *LineReporter) Started(Event) {}

// Progress counts bytes and writes a line when one is due.
func (l *LineReporter) Progress(_ string, n int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bytes += n
	l.tick(false)
}

func (l *LineReporter) tick(force bool) {
	now := time.Now()
	if !force && now.Sub(l.last) < l.every {
		return
	}
	l.last = now
	el := now.Sub(l.start).Seconds()
	rate := float64(l.bytes) / max(el, 0.001)
	l.printf("progress: %d of %d files done, %s sent, %s/s, %s elapsed", l.done, l.found, Bytes(l.bytes),
		Bytes(int64(rate)), time.Duration(el*float64(time.Second)).Round(time.Second))
}

func (l *LineReporter) finish() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done++
	l.tick(false)
}

// Resumed says that a multipart upload goes on.
func (l *LineReporter) Resumed(e Event) {
	l.printf("resume: %s (upload %s, %d parts already there)", e.Path, e.UploadID, e.Parts)
}

// Sent counts a file in.
func (l *LineReporter) Sent(e Event) {
	if l.verbose {
		l.printf("sent: %s", e.Path)
	}
	for _, w := range e.Warnings {
		l.printf("warning: %s: %s", e.Path, w)
	}
	l.finish()
}

// Already counts a file that was there.
func (l *LineReporter) Already(Event) { l.finish() }

// Skipped says why a file is not sent.
func (l *LineReporter) Skipped(e Event) { l.printf("skip: %s: %s", e.Path, e.Reason) }

// Refused says why the server refused a file.
func (l *LineReporter) Refused(e Event) {
	l.printf("refused: %s: %s", e.Path, e.Reason)
	l.finish()
}

// Failed says why the run stops.
func (l *LineReporter) Failed(e Event) { l.printf("error: %s: %s", e.Path, e.Reason) }

// Retry says that a request is tried again.
func (l *LineReporter) Retry(attempt int, wait time.Duration, err error) {
	l.printf("retry: attempt %d failed (%v); again in %s", attempt, err, wait.Round(time.Millisecond))
}

// Done writes a last progress line.
func (l *LineReporter) Done(Summary) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.found > 0 {
		l.tick(true)
	}
}

// Bytes formats a byte count for people.
func Bytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
