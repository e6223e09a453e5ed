// Package uploader is the logic of `teleread upload`: it walks files and
// folders (DICOMDIRs understood), skips what the server would not take,
// asks the case which files it already holds, and sends the rest in
// parallel, small DICOM files packed several to a request, large ones
// through presigned multipart uploads whose parts go in parallel too, with
// retries, an optional rate limit and a state file per half-done multipart
// upload so that a second run resumes where the first stopped. Memory stays flat whatever the size of the tree: files
// stream from the walk through hashing and lookup batches to the senders.
package uploader

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/teleread/teleread/api"
	"github.com/teleread/teleread/internal/client"
)

// Defaults of Config.
const (
	DefaultParallel  = 4
	DefaultThreshold = 32 << 20
	DefaultPartSize  = 16 << 20
	// DefaultPackFiles, DefaultPackFileMax and DefaultPackBytes are the
	// server's: it commits the DICOM files of up to 2 MiB of one request
	// together, 50 files or 8 MiB at a time.
	DefaultPackFiles   = 50
	DefaultPackFileMax = 2 << 20
	DefaultPackBytes   = 8 << 20
	// lookupBatch is the most SHA-256 values asked about at once.
	lookupBatch = api.MaxLookup
	// lookupWait is how long a batch waits to fill before it is asked.
	lookupWait = 2 * time.Second
	// packWait is how long a pack waits for its next file before it goes.
	packWait = 50 * time.Millisecond
)

// Config is what to send where.
type Config struct {
	Client *client.Client
	CaseID uuid.UUID
	// Photos says whether the case takes photos (a dermatology case);
	// otherwise photos are skipped.
	Photos bool
	// BodySite and Dermoscopic describe the photos.
	BodySite    string
	Dermoscopic *bool
	// Parallel is how many files are sent at once, and how many parts of
	// one multipart upload.
	Parallel int
	// Threshold is the size from which a file goes through a presigned
	// multipart upload; PartSize the size of its parts.
	Threshold int64
	PartSize  int64
	// PackFiles is the most files sent in one multipart/form-data request:
	// DICOM files of at most PackFileMax bytes, at most PackBytes together
	// (photos and larger files go one per request). 1 sends every file on
	// its own; 0 takes the defaults.
	PackFiles   int
	PackFileMax int64
	PackBytes   int64
	// RateLimit caps the bytes sent per second, all files together (0: no cap).
	RateLimit int64
	// StateDir keeps one small file per half-done multipart upload (its
	// id), keyed by case, path, size and modification time.
	StateDir string
	// Events hears of everything that happens.
	Events Reporter
}

// Summary is the outcome of a run.
type Summary struct {
	CaseID  uuid.UUID `json:"case_id"`
	Sent    int       `json:"sent"`
	Already int       `json:"already_there"`
	Skipped int       `json:"skipped"`
	Refused int       `json:"refused"`
	Bytes   int64     `json:"bytes_sent"`
	// RefusedFiles are the refused files with the server's reasons.
	RefusedFiles []Outcome `json:"refused_files,omitempty"`
}

// Outcome is what happened to one file.
type Outcome struct {
	Path   string `json:"path"`
	Reason string `json:"reason,omitempty"`
}

// ErrFatal wraps a failure that stops the run: the server cannot be
// reached or refuses the token or the case.
var ErrFatal = errors.New("upload stopped")

// Uploader runs one upload.
type Uploader struct {
	cfg     Config
	limiter *rate.Limiter
	mu      sync.Mutex
	sum     Summary
}

// New returns an Uploader for cfg, with the defaults filled in.
func New(cfg Config) *Uploader {
	if cfg.Parallel <= 0 {
		cfg.Parallel = DefaultParallel
	}
	if cfg.Threshold <= 0 {
		cfg.Threshold = DefaultThreshold
	}
	if cfg.PartSize <= 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PackFiles <= 0 {
		cfg.PackFiles = DefaultPackFiles
	}
	if cfg.PackFileMax <= 0 {
		cfg.PackFileMax = DefaultPackFileMax
	}
	if cfg.PackBytes <= 0 {
		cfg.PackBytes = DefaultPackBytes
	}
	if cfg.Events == nil {
		cfg.Events = discard{}
	}
	u := &Uploader{cfg: cfg, sum: Summary{CaseID: cfg.CaseID}}
	if cfg.RateLimit > 0 {
		burst := int(min(cfg.RateLimit, 256<<10))
		u.limiter = rate.NewLimiter(rate.Limit(cfg.RateLimit), max(burst, 1))
	}
	return u
}

// Run sends the files under paths and returns the summary. The error is
// ErrFatal-wrapped when the run could not go on (unreachable, token or
// case refused), or the context's when cancelled.
func (u *Uploader) Run(ctx context.Context, paths []string) (Summary, error) {
	g, ctx := errgroup.WithContext(ctx)
	found := make(chan item, 64)
	hashed := make(chan item, 64)
	missing := make(chan item, 64)
	g.Go(func() error { return u.walk(ctx, paths, found) })
	var hg sync.WaitGroup
	for range max(2, u.cfg.Parallel/2) {
		hg.Add(1)
		g.Go(func() error {
			defer hg.Done()
			return u.hashAll(ctx, found, hashed)
		})
	}
	g.Go(func() error { hg.Wait(); close(hashed); return nil })
	g.Go(func() error { return u.lookupAll(ctx, hashed, missing) })
	for range u.cfg.Parallel {
		g.Go(func() error { return u.sendAll(ctx, missing) })
	}
	err := g.Wait()
	u.mu.Lock()
	sum := u.sum
	u.mu.Unlock()
	return sum, err
}

// hashAll classifies and hashes the files found, reading each once.
func (u *Uploader) hashAll(ctx context.Context, in <-chan item, out chan<- item) error {
	for it := range in {
		ok, err := u.hash(&it)
		if err != nil {
			u.skip(it.path, "cannot be read: "+errText(err))
			continue
		}
		if !ok {
			continue
		}
		select {
		case out <- it:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (u *Uploader) hash(it *item) (bool, error) {
	f, err := os.Open(it.path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false, err
	}
	it.size, it.mtime = st.Size(), st.ModTime().UnixNano()
	head, err := readHead(f, 132)
	if err != nil {
		return false, err
	}
	kind, ct, why := classify(head)
	if why != "" {
		u.skip(it.path, why)
		return false, nil
	}
	if kind == kindPhoto && !u.cfg.Photos {
		u.skip(it.path, "a photo: photos are sent to dermatology cases only")
		return false, nil
	}
	it.kind, it.contentType = kind, ct
	h := sha256.New()
	h.Write(head)
	if _, err := io.Copy(h, f); err != nil {
		return false, err
	}
	it.sha256 = hex.EncodeToString(h.Sum(nil))
	u.cfg.Events.Found(Event{Path: it.path, Size: it.size, SHA256: it.sha256})
	return true, nil
}

// lookupAll asks the case, in batches, which files it holds, and passes on
// the others.
func (u *Uploader) lookupAll(ctx context.Context, in <-chan item, out chan<- item) error {
	defer close(out)
	batch := make([]item, 0, lookupBatch)
	timer := time.NewTimer(lookupWait)
	defer timer.Stop()
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		defer func() { batch = batch[:0] }()
		sums := make([]string, 0, len(batch))
		seen := map[string]bool{}
		for _, it := range batch {
			if !seen[it.sha256] {
				seen[it.sha256] = true
				sums = append(sums, it.sha256)
			}
		}
		ans, err := u.cfg.Client.Lookup(ctx, u.cfg.CaseID, sums)
		if err != nil {
			return u.fatal(err)
		}
		held := make(map[string]uuid.UUID, len(ans.Held))
		for _, h := range ans.Held {
			held[h.SHA256] = h.FileID
		}
		queued := map[string]bool{}
		for _, it := range batch {
			if id, ok := held[it.sha256]; ok {
				u.already(it, id)
				continue
			}
			if queued[it.sha256] {
				// The same bytes twice in one run: the first copy is enough.
				u.already(it, uuid.Nil)
				continue
			}
			queued[it.sha256] = true
			select {
			case out <- it:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	for {
		select {
		case it, ok := <-in:
			if !ok {
				return flush()
			}
			batch = append(batch, it)
			if len(batch) == lookupBatch {
				if err := flush(); err != nil {
					return err
				}
				timer.Reset(lookupWait)
			}
		case <-timer.C:
			if err := flush(); err != nil {
				return err
			}
			timer.Reset(lookupWait)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// fatal turns an error that stops the run into ErrFatal.
func (u *Uploader) fatal(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrFatal, err)
}

// isFatal reports whether a failure of one file stops the whole run.
func isFatal(err error) bool {
	switch client.StatusOf(err) {
	case 401, 403, 404:
		return true
	case 0:
		return client.IsUnreachable(err)
	}
	return false
}

func (u *Uploader) skip(path, why string) {
	u.mu.Lock()
	u.sum.Skipped++
	u.mu.Unlock()
	u.cfg.Events.Skipped(Event{Path: path, Reason: why})
}

func (u *Uploader) already(it item, id uuid.UUID) {
	u.mu.Lock()
	u.sum.Already++
	u.mu.Unlock()
	e := Event{Path: it.path, Size: it.size, SHA256: it.sha256}
	if id != uuid.Nil {
		e.FileID = id.String()
	}
	u.cfg.Events.Already(e)
}

func (u *Uploader) sent(it item, f *api.File) {
	u.mu.Lock()
	if f != nil && f.Duplicate != nil && *f.Duplicate {
		u.sum.Already++
	} else {
		u.sum.Sent++
	}
	u.mu.Unlock()
	e := Event{Path: it.path, Size: it.size, SHA256: it.sha256}
	if f != nil {
		e.FileID = f.ID.String()
		for _, w := range f.Warnings {
			e.Warnings = append(e.Warnings, w.Message)
		}
	}
	u.cfg.Events.Sent(e)
}

func (u *Uploader) refused(it item, reason string) {
	u.mu.Lock()
	u.sum.Refused++
	u.sum.RefusedFiles = append(u.sum.RefusedFiles, Outcome{Path: it.path, Reason: reason})
	u.mu.Unlock()
	u.cfg.Events.Refused(Event{Path: it.path, Size: it.size, SHA256: it.sha256, Reason: reason})
}

func (u *Uploader) addBytes(n int64) {
	u.mu.Lock()
	u.sum.Bytes += n
	u.mu.Unlock()
}
