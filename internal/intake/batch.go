package intake

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/postgres"
)

// A request's small DICOM files are committed together, at most
// batchFiles or batchBytes of them at a time.
const (
	batchFiles = 50
	batchBytes = 8 << 20
)

// Batch adds the files of one request (a multipart upload, a STOW-RS
// body) to a case. Each file is read and checked as it arrives; small
// DICOM files, which are read whole into memory, then wait and are
// committed together in one transaction (the case locked once, the audit
// chain's lock taken and its head read once), the others on their own, in
// the order they came. If the transaction of a batch fails, its files are
// committed again one by one, so that each gets its own answer (a
// rejection, a duplicate) exactly as Add gives it.
type Batch struct {
	s       *Service
	ctx     context.Context
	p       *identity.Principal
	c       cases.Case
	results []Result
	pending []*staged
	slots   []int // the results index of each pending file
	bytes   int
}

// NewBatch starts the files of one request into case c (which
// CheckUploadable returned).
func (s *Service) NewBatch(ctx context.Context, p *identity.Principal, c cases.Case) *Batch {
	return &Batch{s: s, ctx: ctx, p: p, c: c}
}

// Add reads and checks one file streamed from the client; what became of
// it is in Results. It returns what is known once its bytes are read: their
// SHA-256 and, if reading the request body failed, the error (the request
// cannot go on).
func (b *Batch) Add(in Input) (sha256 string, bodyErr error) {
	st := b.s.prepare(b.ctx, b.c.SiteOrgID, &b.c, b.s.sourceOf(in))
	slot := len(b.results)
	b.results = append(b.results, Result{})
	if st.err == nil && st.pf.data != nil && st.pf.header != nil {
		b.pending = append(b.pending, st)
		b.slots = append(b.slots, slot)
		b.bytes += len(st.pf.data)
		if len(b.pending) >= batchFiles || b.bytes >= batchBytes {
			b.flush()
		}
		return st.res.SHA256, nil
	}
	b.flush()
	if st.err == nil {
		st.res.File, st.res.Duplicate, st.err = b.s.commit(b.ctx, b.p, b.c.ID, st.pf)
	}
	r := b.s.finish(b.ctx, b.c.SiteOrgID, st)
	b.results[slot] = r
	return r.SHA256, r.BodyErr
}

// Len is the number of files added so far: the index in Results of the
// next one.
func (b *Batch) Len() int { return len(b.results) }

// Results commits the files still waiting and returns every file's
// Result, in the order they were added.
func (b *Batch) Results() []Result {
	b.flush()
	return b.results
}

// flush commits the waiting files.
func (b *Batch) flush() {
	if len(b.pending) == 0 {
		return
	}
	pending, slots := b.pending, b.slots
	b.pending, b.slots, b.bytes = nil, nil, 0
	org := b.c.SiteOrgID
	single := func(st *staged) {
		st.res.File, st.res.Duplicate, st.err = b.s.commit(b.ctx, b.p, b.c.ID, st.pf)
	}
	if len(pending) == 1 {
		// One small file: with those of other requests of the same user
		// to the same case waiting at the same moment.
		b.s.commitGrouped(b.ctx, b.p, b.c, pending[0])
	} else {
		files, dups, created, err := b.s.commitBatch(b.ctx, b.p, b.c, pending)
		if err == nil {
			for i, st := range pending {
				f := files[i]
				st.res.File, st.res.Duplicate = &f, dups[i]
			}
		} else {
			// Something in the batch was refused, or the transaction
			// failed: each file on its own, then remove what the failed
			// transaction placed and no file now refers to.
			for _, st := range pending {
				single(st)
			}
			for _, key := range created {
				b.s.removeUnreferenced(b.ctx, org, key)
			}
		}
	}
	for i, st := range pending {
		b.results[slots[i]] = b.s.finish(b.ctx, org, st)
	}
}

// commitBatch commits small DICOM files (held in memory) into a case in
// one transaction, each for its st.by (else p; all of p's user): what commit does for each, with the case locked once
// and the audit records written together at the end. The objects are
// placed first and the rows written after, so that the locks other
// uploads to the same study wait for (its series and study rows, the audit
// chain) are held only while the rows are written, not across the PUTs.
// created lists the objects it placed, for the caller to remove if the
// transaction failed.
func (s *Service) commitBatch(ctx context.Context, p *identity.Principal, into cases.Case, sts []*staged) (
	files []File, dups []bool, created []string, err error) {
	org := p.OrgID
	files, dups = make([]File, len(sts)), make([]bool, len(sts))
	err = postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		created = created[:0]
		c, err := s.cases.LockForUpload(ctx, tx, p, into.ID)
		if err != nil {
			return err
		}
		// A file the same as an earlier one of the batch (same bytes, or
		// the same instance) is a duplicate of it, as it would be were
		// they committed one after the other.
		dupOf := make([]int, len(sts))
		bySHA, bySOP := map[string]int{}, map[string]int{}
		var keys []string // the objects to place, of the files placed[k]
		var placed []int
		for i, st := range sts {
			pf := st.pf
			dupOf[i] = -1
			if j, ok := bySHA[pf.sha256]; ok {
				dupOf[i] = j
				continue
			}
			if j, ok := bySOP[pf.header.SOPInstanceUID]; ok {
				dupOf[i] = j
				continue
			}
			if files[i], dups[i], err = s.findDuplicate(ctx, tx, c, pf); err != nil {
				return err
			}
			bySHA[pf.sha256], bySOP[pf.header.SOPInstanceUID] = i, i
			if !dups[i] {
				keys = append(keys, blobKey(org, pf.storedSHA))
				placed = append(placed, i)
			}
		}
		if err := s.q.BlobLocksShared(ctx, tx, keys); err != nil {
			return fmt.Errorf("lock objects: %w", err)
		}
		// The PUTs run side by side, as they would in separate requests.
		existed := make([]bool, len(placed))
		eg, ectx := errgroup.WithContext(ctx)
		eg.SetLimit(8)
		for k, i := range placed {
			eg.Go(func() error {
				var err error
				existed[k], err = s.place(ectx, sts[i].pf, keys[k])
				return err
			})
		}
		err = eg.Wait()
		for k := range placed {
			if !existed[k] {
				created = append(created, keys[k])
			}
		}
		if err != nil {
			return err
		}
		known := map[[2]string]uuid.UUID{}
		evs := make([]audit.Event, 0, len(sts))
		for i, st := range sts {
			if dups[i] || dupOf[i] >= 0 {
				continue
			}
			by := p
			if st.by != nil {
				by = st.by
			}
			if files[i], err = s.insert(ctx, tx, by, c, st.pf, blobKey(org, st.pf.storedSHA), known); err != nil {
				return err
			}
			evs = append(evs, uploadEvent(by, c, files[i]))
		}
		for i, j := range dupOf {
			if j >= 0 {
				files[i], dups[i] = files[j], true
			}
		}
		return audit.RecordAll(ctx, tx, evs)
	})
	return files, dups, created, err
}
