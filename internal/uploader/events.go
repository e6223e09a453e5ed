package uploader

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Event is one thing that happened to one file.
type Event struct {
	Path     string   `json:"path,omitempty"`
	Size     int64    `json:"size,omitempty"`
	SHA256   string   `json:"sha256,omitempty"`
	FileID   string   `json:"file_id,omitempty"`
	UploadID string   `json:"upload_id,omitempty"`
	Parts    int      `json:"parts_arrived,omitempty"`
	Reason   string   `json:"reason,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// Reporter hears of the run as it goes. Its methods are called from many
// goroutines at once.
type Reporter interface {
	Found(Event)
	Started(Event)
	Progress(path string, n int64)
	Resumed(Event)
	Sent(Event)
	Already(Event)
	Skipped(Event)
	Refused(Event)
	Failed(Event)
	Retry(attempt int, wait time.Duration, err error)
	Done(Summary)
}

type discard struct{}

func (discard) Found(Event)                     {}
func (discard) Started(Event)                   {}
func (discard) Progress(string, int64)          {}
func (discard) Resumed(Event)                   {}
func (discard) Sent(Event)                      {}
func (discard) Already(Event)                   {}
func (discard) Skipped(Event)                   {}
func (discard) Refused(Event)                   {}
func (discard) Failed(Event)                    {}
func (discard) Retry(int, time.Duration, error) {}
func (discard) Done(Summary)                    {}

// JSONReporter writes one JSON object per line for each event, each with
// its "event" and the "case_id" (progress is not an event: it would flood).
type JSONReporter struct {
	mu     sync.Mutex
	w      io.Writer
	caseID string
}

// NewJSONReporter writes the events of caseID's upload to w.
func NewJSONReporter(w io.Writer, caseID string) *JSONReporter {
	return &JSONReporter{w: w, caseID: caseID}
}

func (j *JSONReporter) emit(kind string, e Event) {
	b, _ := json.Marshal(e)
	m := map[string]any{}
	_ = json.Unmarshal(b, &m)
	m["event"], m["case_id"] = kind, j.caseID
	out, _ := json.Marshal(m)
	j.mu.Lock()
	defer j.mu.Unlock()
	fmt.Fprintf(j.w, "%s\n", out)
}

func (j *JSONReporter) Found(Event)            {}
func (j *JSONReporter) Progress(string, int64) {}
func (j *JSONReporter) Started(e Event)        { j.emit("started", e) }
func (j *JSONReporter) Resumed(e Event)        { j.emit("resumed", e) }
func (j *JSONReporter) Sent(e Event)           { j.emit("sent", e) }
func (j *JSONReporter) Already(e Event)        { j.emit("already_there", e) }
func (j *JSONReporter) Skipped(e Event)        { j.emit("skipped", e) }
func (j *JSONReporter) Refused(e Event)        { j.emit("refused", e) }
func (j *JSONReporter) Failed(e Event)         { j.emit("failed", e) }
func (j *JSONReporter) Retry(attempt int, wait time.Duration, err error) {
	j.emit("retry", Event{Reason: fmt.Sprintf("attempt %d failed (%v); again in %s", attempt, err, wait.Round(time.Millisecond))})
}

// Done writes the summary event.
func (j *JSONReporter) Done(s Summary) {
	j.mu.Lock()
	defer j.mu.Unlock()
	b, _ := json.Marshal(s)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	m["event"] = "summary"
	out, _ := json.Marshal(m)
	fmt.Fprintf(j.w, "%s\n", out)
}
