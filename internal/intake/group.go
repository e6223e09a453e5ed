package intake

import (
	"context"
	"sync"

	"github.com/google/uuid"

	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/identity"
)

// Group commit. Most DICOM senders (DICOMweb clients, PACS peers, our own
// uploader for one file) send a study one small instance per request,
// several requests at a time. Each such file would be a transaction of
// its own; instead, the files that wait at the same moment for the same
// case and user are committed together: the first to arrive commits
// itself and whatever queued while it did, and hands over to the first
// that queued after. Nothing waits on a timer: a file alone commits at
// once, and batches form only while a commit is under way.

// groupKey is what the files of one group share: a case and the user
// sending to it (so the case's lock, read with that user's rights, is the
// same for all).
type groupKey struct{ caseID, userID uuid.UUID }

type groups struct {
	mu sync.Mutex
	m  map[groupKey]*group
	// hold, in tests, runs before a leader takes its group.
	hold func()
}

// group is the queue of one groupKey. Up to groupLeaders commits run at
// once (while one writes its rows, the next places its objects); a file
// that arrives while they all run queues for the next.
type group struct {
	waiting []*grouped
	leaders int
}

const groupLeaders = 2

// grouped is a file waiting in a group.
type grouped struct {
	ctx  context.Context
	p    *identity.Principal
	st   *staged
	wake chan wakeUp
}

type wakeUp int

const (
	wakeCommitted wakeUp = iota // the leader's transaction committed it: its result is set
	wakeAlone                   // the leader's transaction failed: commit it alone
	wakeLead                    // lead the next group
)

// commitGrouped commits st, a small DICOM file staged for p into case c,
// alone or with the files of other requests waiting for the same case and
// user, and sets its result (st.res.File, Duplicate, st.err) as commit
// would. A batch that fails is committed file by file, each request
// committing its own file with its own context.
func (s *Service) commitGrouped(ctx context.Context, p *identity.Principal, c cases.Case, st *staged) {
	st.by = p
	k := groupKey{caseID: c.ID, userID: p.UserID}
	me := &grouped{ctx: ctx, p: p, st: st, wake: make(chan wakeUp, 1)}
	s.groups.mu.Lock()
	g := s.groups.m[k]
	if g == nil {
		g = &group{}
		s.groups.m[k] = g
	}
	lead := g.leaders < groupLeaders
	if lead {
		g.leaders++
	} else {
		g.waiting = append(g.waiting, me)
	}
	s.groups.mu.Unlock()
	if !lead {
		switch <-me.wake {
		case wakeCommitted:
			return
		case wakeAlone:
			s.commitAlone(ctx, p, c, st)
			return
		}
	}

	if s.groups.hold != nil {
		s.groups.hold() // tests: let others queue
	}
	// A leader commits its own file and those that queued (none of which
	// another leader took).
	s.groups.mu.Lock()
	batch := append([]*grouped{me}, g.waiting...)
	g.waiting = nil
	s.groups.mu.Unlock()

	// A group of one commits alone, and holds the group while it does,
	// so that the files arriving meanwhile form the next one.
	var created []string
	var err error
	if len(batch) == 1 {
		s.commitAlone(ctx, p, c, st)
	} else {
		sts := make([]*staged, len(batch))
		for i, e := range batch {
			sts[i] = e.st
		}
		var files []File
		var dups []bool
		if files, dups, created, err = s.commitBatch(ctx, p, c, sts); err == nil {
			for i, e := range batch {
				f := files[i]
				e.st.res.File, e.st.res.Duplicate = &f, dups[i]
			}
		}
	}

	// Hand over to the first that queued meanwhile, then wake the others.
	s.groups.mu.Lock()
	if len(g.waiting) > 0 {
		next := g.waiting[0]
		g.waiting = g.waiting[1:]
		next.wake <- wakeLead
	} else if g.leaders--; g.leaders == 0 {
		delete(s.groups.m, k)
	}
	s.groups.mu.Unlock()
	outcome := wakeCommitted
	if err != nil {
		outcome = wakeAlone
	}
	for _, e := range batch {
		if e != me {
			e.wake <- outcome
		}
	}
	if err != nil {
		s.commitAlone(ctx, p, c, st)
		// What the failed transaction placed and no file refers to now
		// (the others' own commits hold the objects they use locked).
		for _, key := range created {
			s.removeUnreferenced(ctx, c.SiteOrgID, key)
		}
	}
}

// commitAlone commits st on its own.
func (s *Service) commitAlone(ctx context.Context, p *identity.Principal, c cases.Case, st *staged) {
	st.res.File, st.res.Duplicate, st.err = s.commit(ctx, p, c.ID, st.pf)
}
