package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"

	"github.com/teleread/teleread/internal/audit/auditdb"
	"github.com/teleread/teleread/internal/postgres"
)

// Break is the first row of a chain that does not verify.
type Break struct {
	Chain  string `json:"chain"`
	Seq    int64  `json:"seq"`
	ID     int64  `json:"id"`
	Reason string `json:"reason"`
}

// Report is the result of Verify.
type Report struct {
	Chains int   `json:"chains"`
	Events int64 `json:"events"`
	// PendingReads are reads recorded but not yet folded into a chain
	// (RecordRead); Fold chains them, and a later Verify covers them.
	PendingReads int64   `json:"pending_reads"`
	Breaks       []Break `json:"breaks,omitempty"`
}

// OK reports whether every chain verified.
func (r Report) OK() bool { return len(r.Breaks) == 0 }

// Verify walks every chain in order and recomputes each row's hash. It
// reports, per chain, the first row that was changed (its hash no longer
// matches its content), removed or inserted (the next row's prev_hash or
// sequence does not follow). Removing the newest rows of a chain leaves no
// trace in the chain itself; the sequence and an export elsewhere cover that.
func Verify(ctx context.Context, db postgres.DB) (Report, error) {
	var rep Report
	chains, err := queries.ChainList(ctx, db)
	if err != nil {
		return rep, fmt.Errorf("audit verify: list chains: %w", err)
	}
	rep.Chains = len(chains)
	if rep.PendingReads, err = queries.ReadPendingCount(ctx, db); err != nil {
		return rep, fmt.Errorf("audit verify: count pending reads: %w", err)
	}
	for _, chain := range chains {
		b, n, err := verifyChain(ctx, db, chain)
		if err != nil {
			return rep, err
		}
		rep.Events += n
		if b != nil {
			rep.Breaks = append(rep.Breaks, *b)
		}
	}
	return rep, nil
}

func verifyChain(ctx context.Context, db postgres.DB, chain string) (*Break, int64, error) {
	prev := make([]byte, sha256.Size)
	var seq, n int64
	for {
		rows, err := queries.ChainEvents(ctx, db, auditdb.ChainEventsParams{Chain: chain, AfterSeq: seq, Lim: 1000})
		if err != nil {
			return nil, n, fmt.Errorf("audit verify: read chain %s: %w", chain, err)
		}
		if len(rows) == 0 {
			return nil, n, nil
		}
		for _, r := range rows {
			n++
			brk := func(reason string) *Break { return &Break{Chain: chain, Seq: r.ChainSeq, ID: r.ID, Reason: reason} }
			switch {
			case r.ChainSeq != seq+1:
				return brk(fmt.Sprintf("sequence jumps from %d to %d: rows are missing", seq, r.ChainSeq)), n, nil
			case !bytes.Equal(r.PrevHash, prev):
				return brk("prev_hash does not match the previous row: a row before it was changed, removed or inserted"), n, nil
			case !bytes.Equal(r.Hash, hashOf(r)):
				return brk("hash does not match the row's content: the row was changed"), n, nil
			}
			prev, seq = r.Hash, r.ChainSeq
		}
	}
}
