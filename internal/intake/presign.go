package intake

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/blob"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake/intakedb"
	"github.com/teleread/teleread/internal/postgres"
)

// Upload is a presigned upload: the site sends the bytes straight to
// object storage, then completes it.
type Upload = intakedb.Upload

// The states of a presigned upload.
const (
	UploadPending    = "pending"
	UploadCompleting = "completing"
	UploadCompleted  = "completed"
	UploadFailed     = "failed"
	UploadExpired    = "expired"
)

// claimStaleAfter is when a claim on an upload whose process died may be
// taken over. It is longer than any completion takes. (An in-flight
// idempotency key is renewed while its request runs and goes stale after
// Options.KeyStaleAfter instead.)
const claimStaleAfter = 2 * time.Hour

// uploadTypes are the declared content types a presigned upload may have.
// The content is identified from its bytes anyway.
var uploadTypes = map[string]bool{"application/dicom": true, "image/jpeg": true, "image/png": true, "image/webp": true}

var sha256Re = regexp.MustCompile(`^[0-9a-f]{64}$`)

// NewUpload is the input of CreateUpload.
type NewUpload struct {
	Filename    string
	Size        int64
	SHA256      string
	ContentType string
	// PartSize asks for a multipart upload with parts of this size (at
	// least 5 MiB); 0 lets the server choose, multipart only above
	// Options.SinglePutMax.
	PartSize int64
}

// PartURL is where to PUT one part of a multipart upload.
type PartURL struct {
	Number int
	Size   int64
	URL    string
}

// Ticket is a presigned upload and how to send what it still lacks.
type Ticket struct {
	Upload Upload
	// URL is the PUT URL of a single-PUT upload, while its bytes have not
	// arrived.
	URL string
	// Received reports that the bytes of a single-PUT upload are there.
	Received bool
	// PartCount is the number of parts of a multipart upload.
	PartCount int
	// Arrived are the parts that are there; Missing the URLs of those that
	// are not (or arrived with the wrong size).
	Arrived []blob.Part
	Missing []PartURL
	// URLsExpireAt is when the URLs stop working: ask again for fresh ones.
	URLsExpireAt time.Time
}

// CreateUpload opens a presigned upload of one file to an editable case.
func (s *Service) CreateUpload(ctx context.Context, p *identity.Principal, caseID uuid.UUID, in NewUpload) (Ticket, error) {
	c, err := s.cases.CheckUploadable(ctx, p, caseID)
	if err != nil {
		return Ticket{}, err
	}
	in.Filename = SanitizeFilename(in.Filename)
	in.SHA256 = strings.ToLower(strings.TrimSpace(in.SHA256))
	in.ContentType = strings.ToLower(strings.TrimSpace(in.ContentType))
	fields := map[string]string{}
	if !uploadTypes[in.ContentType] {
		fields["content_type"] = "must be application/dicom, image/jpeg, image/png or image/webp"
	}
	limit := s.opts.MaxFileBytes
	if strings.HasPrefix(in.ContentType, "image/") {
		limit = min(limit, s.opts.MaxPhotoBytes)
	}
	if in.Size <= 0 || in.Size > limit {
		fields["size"] = fmt.Sprintf("must be from 1 to %d bytes", limit)
	}
	if !sha256Re.MatchString(in.SHA256) {
		fields["sha256"] = "must be the SHA-256 of the file as 64 hex digits"
	}
	multipart := in.PartSize != 0 || in.Size > s.opts.SinglePutMax
	partSize := in.PartSize
	if multipart && partSize == 0 {
		partSize = max(s.opts.DefaultPartSize, ceilDiv(in.Size, blob.MaxParts))
	}
	if multipart && (partSize < blob.MinPartSize || partSize > blob.MaxPartSize) {
		fields["part_size"] = fmt.Sprintf("must be from %d to %d bytes", blob.MinPartSize, int64(blob.MaxPartSize))
	} else if multipart && in.Size > 0 && ceilDiv(in.Size, partSize) > blob.MaxParts {
		fields["part_size"] = fmt.Sprintf("makes more than %d parts; choose a larger one", blob.MaxParts)
	}
	if len(fields) > 0 {
		return Ticket{}, apperr.InvalidFields(fields)
	}

	id := uuid.New()
	key := uploadKey(c.SiteOrgID, id)
	params := intakedb.UploadInsertParams{ID: id, CaseID: c.ID, OrgID: c.SiteOrgID, CreatedBy: p.UserID,
		Filename: in.Filename, ContentType: in.ContentType, Size: in.Size, Sha256: in.SHA256, ObjectKey: key,
		ExpiresAt: time.Now().Add(s.opts.UploadTTL)}
	if multipart {
		mid, err := s.store.NewMultipart(ctx, key, in.ContentType)
		if err != nil {
			return Ticket{}, err
		}
		params.MultipartID, params.PartSize = &mid, &partSize
	}
	var u Upload
	err = postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if u, err = s.q.UploadInsert(ctx, tx, params); err != nil {
			return fmt.Errorf("insert upload: %w", err)
		}
		return audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "upload.create", ObjectType: "upload",
			ObjectID: u.ID.String(), ObjectOrgID: &u.OrgID, Details: map[string]any{"case_id": c.ID, "size": u.Size,
				"multipart": multipart}})
	})
	if err != nil {
		if multipart {
			cctx, cancel := cleanupCtx(ctx)
			if aerr := s.store.AbortMultipart(cctx, key, *params.MultipartID); aerr != nil {
				s.compensate(ctx, CleanupArgs{Action: CleanupAbortMultipart, OrgID: c.SiteOrgID, Key: key,
					MultipartID: *params.MultipartID}, aerr)
			}
			cancel()
		}
		return Ticket{}, err
	}
	return s.ticket(ctx, u)
}

// UploadStatus returns a presigned upload of a case p may see, with what
// has arrived and fresh URLs for what has not, so a client can resume.
func (s *Service) UploadStatus(ctx context.Context, p *identity.Principal, caseID, uploadID uuid.UUID) (Ticket, error) {
	if _, err := s.cases.Visible(ctx, s.pool, p, caseID); err != nil {
		return Ticket{}, err
	}
	u, err := s.q.UploadGet(ctx, s.pool, intakedb.UploadGetParams{ID: uploadID, CaseID: caseID, OrgID: p.OrgID})
	if err != nil {
		return Ticket{}, postgres.Translate(err, "upload")
	}
	return s.ticket(ctx, u)
}

// ticket describes u with URLs for what it lacks.
func (s *Service) ticket(ctx context.Context, u Upload) (Ticket, error) {
	t := Ticket{Upload: u, Arrived: []blob.Part{}, Missing: []PartURL{}}
	if u.Status != UploadPending {
		return t, nil
	}
	expiry := min(s.opts.URLExpiry, time.Until(u.ExpiresAt))
	if expiry < time.Second {
		return t, nil
	}
	t.URLsExpireAt = time.Now().Add(expiry)
	if u.MultipartID == nil {
		if _, err := s.store.Stat(ctx, u.ObjectKey); err == nil {
			t.Received = true
			return t, nil
		} else if !apperr.Is(err, apperr.NotFound) {
			return Ticket{}, err
		}
		url, err := s.store.PresignPut(ctx, u.ObjectKey, expiry)
		if err != nil {
			return Ticket{}, err
		}
		t.URL = url.String()
		return t, nil
	}
	arrived, missing, err := s.parts(ctx, u)
	if err != nil {
		return Ticket{}, err
	}
	t.PartCount, t.Arrived = int(ceilDiv(u.Size, *u.PartSize)), arrived
	for _, n := range missing {
		url, err := s.store.PresignPart(ctx, u.ObjectKey, *u.MultipartID, n, expiry)
		if err != nil {
			return Ticket{}, err
		}
		t.Missing = append(t.Missing, PartURL{Number: n, Size: partLen(u, n), URL: url.String()})
	}
	return t, nil
}

// parts lists the parts of a multipart upload that arrived with the right
// size, and the numbers of those still missing.
func (s *Service) parts(ctx context.Context, u Upload) (arrived []blob.Part, missing []int, err error) {
	listed, err := s.store.ListParts(ctx, u.ObjectKey, *u.MultipartID)
	if err != nil {
		return nil, nil, err
	}
	n := int(ceilDiv(u.Size, *u.PartSize))
	arrived = []blob.Part{}
	for i := 1; i <= n; i++ {
		j := slices.IndexFunc(listed, func(p blob.Part) bool { return p.Number == i })
		if j >= 0 && listed[j].Size == partLen(u, i) {
			arrived = append(arrived, listed[j])
		} else {
			missing = append(missing, i)
		}
	}
	return arrived, missing, nil
}

// partLen is the size part n of u must have.
func partLen(u Upload, n int) int64 {
	ps := *u.PartSize
	return min(ps, u.Size-int64(n-1)*ps)
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// CompleteUpload joins a presigned upload to its case: for a multipart
// upload the listed parts are joined first; the object's size is checked,
// then it is read back through the same pipeline as a direct upload (its
// SHA-256 must match the declared one). A refused file is deleted and the
// upload marked failed; an upload completed before answers its file again.
func (s *Service) CompleteUpload(ctx context.Context, p *identity.Principal, caseID, uploadID uuid.UUID) (Result, error) {
	c, err := s.cases.CheckUploadable(ctx, p, caseID)
	if err != nil {
		return Result{}, err
	}
	u, err := s.q.UploadGet(ctx, s.pool, intakedb.UploadGetParams{ID: uploadID, CaseID: caseID, OrgID: p.OrgID})
	if err != nil {
		return Result{}, postgres.Translate(err, "upload")
	}
	if res, done, err := s.finished(ctx, u); done || err != nil {
		return res, err
	}
	u, err = s.q.UploadClaim(ctx, s.pool, intakedb.UploadClaimParams{ID: u.ID, OrgID: u.OrgID, StaleAfter: claimStaleAfter})
	if errors.Is(err, pgx.ErrNoRows) {
		cur, gerr := s.q.UploadGet(ctx, s.pool, intakedb.UploadGetParams{ID: uploadID, CaseID: caseID, OrgID: p.OrgID})
		if gerr != nil {
			return Result{}, postgres.Translate(gerr, "upload")
		}
		if res, done, err := s.finished(ctx, cur); done || err != nil {
			return res, err
		}
		if cur.Status == UploadCompleting {
			return Result{}, &apperr.Error{Code: apperr.Conflict, Message: "this upload is being completed by another request",
				RetryAfterSeconds: 5}
		}
		return Result{}, apperr.New(apperr.Conflict, "this upload expired at %s; start a new one", cur.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if err != nil {
		return Result{}, fmt.Errorf("claim upload: %w", err)
	}
	release := true
	defer func() {
		if release {
			s.releaseUpload(ctx, u)
		}
	}()

	if err := s.assemble(ctx, u); err != nil {
		return Result{}, err
	}
	info, err := s.store.Stat(ctx, u.ObjectKey)
	if err != nil {
		return Result{}, err
	}
	name := u.Filename
	if info.Size != u.Size {
		release = false
		return s.refuse(ctx, u, Result{Filename: name, Size: info.Size,
			Reason: fmt.Sprintf("size mismatch: %d bytes were declared but %d arrived", u.Size, info.Size)})
	}
	rc, _, err := s.store.Get(ctx, u.ObjectKey, 0, -1)
	if err != nil {
		return Result{}, err
	}
	res := s.ingest(ctx, p, c, source{filename: name, r: rc, storedKey: u.ObjectKey, adoptable: u.MultipartID != nil,
		expectSHA256: u.Sha256,
		expectSize:   u.Size})
	rc.Close()
	switch {
	case res.Accepted:
		release = false
		if err := s.q.UploadFinish(ctx, s.pool, intakedb.UploadFinishParams{Status: UploadCompleted, FileID: &res.File.ID,
			ID: u.ID, OrgID: u.OrgID}); err != nil {
			return Result{}, fmt.Errorf("finish upload: %w", err)
		}
		if res.File.BlobKey != u.ObjectKey { // else the file adopted the object (commit.go, adopt)
			s.removeObject(ctx, u.OrgID, u.ObjectKey)
		}
		return res, nil
	case res.Err != nil || res.BodyErr != nil:
		// The bytes may be fine: keep them and let the client complete again.
		return res, nil
	}
	release = false
	return s.refuse(ctx, u, res)
}

// finished answers an upload that was completed, refused or expired
// before; done is false for one that may still complete.
func (s *Service) finished(ctx context.Context, u Upload) (Result, bool, error) {
	switch u.Status {
	case UploadCompleted:
		if u.FileID == nil {
			return Result{}, true, fmt.Errorf("upload %s completed without a file", u.ID)
		}
		f, err := s.q.FileGet(ctx, s.pool, intakedb.FileGetParams{ID: *u.FileID, OrgID: u.OrgID})
		if err != nil {
			return Result{}, true, fmt.Errorf("load file: %w", err)
		}
		return Result{Filename: u.Filename, Accepted: true, File: &f, SHA256: f.Sha256, Size: f.Size}, true, nil
	case UploadFailed:
		return Result{Filename: u.Filename, Reason: u.Error}, true, nil
	case UploadExpired:
		return Result{}, true, apperr.New(apperr.Conflict, "this upload expired; start a new one")
	}
	return Result{}, false, nil
}

// assemble joins the parts of a multipart upload whose object is not
// there yet. Missing parts are a Conflict naming them.
func (s *Service) assemble(ctx context.Context, u Upload) error {
	if u.MultipartID == nil {
		if _, err := s.store.Stat(ctx, u.ObjectKey); apperr.Is(err, apperr.NotFound) {
			return apperr.New(apperr.Conflict, "the file has not been uploaded yet: PUT it to the upload's URL first")
		} else if err != nil {
			return err
		}
		return nil
	}
	if _, err := s.store.Stat(ctx, u.ObjectKey); err == nil {
		return nil // joined by an earlier attempt
	} else if !apperr.Is(err, apperr.NotFound) {
		return err
	}
	arrived, missing, err := s.parts(ctx, u)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		shown := missing
		if len(shown) > 20 {
			shown = shown[:20]
		}
		return apperr.New(apperr.Conflict, "%d of %d parts have not arrived (or have the wrong size): %s; GET the upload for fresh URLs",
			len(missing), len(missing)+len(arrived), strings.Trim(fmt.Sprint(shown), "[]"))
	}
	return s.store.CompleteMultipart(ctx, u.ObjectKey, *u.MultipartID, arrived)
}

// refuse deletes a refused upload's bytes and records why. Its multipart
// upload, if any, was completed by assemble: there is nothing to abort.
func (s *Service) refuse(ctx context.Context, u Upload, res Result) (Result, error) {
	s.removeObject(ctx, u.OrgID, u.ObjectKey)
	if err := s.q.UploadFinish(ctx, s.pool, intakedb.UploadFinishParams{Status: UploadFailed, Error: res.Reason,
		ID: u.ID, OrgID: u.OrgID}); err != nil {
		return Result{}, fmt.Errorf("finish upload: %w", err)
	}
	return res, nil
}

// releaseUpload gives the claim on u back after a completion that did not
// finish, so that the client can complete again at once; a failure is
// retried by a clean-up job (without it the client would get 409 until the
// claim goes stale).
func (s *Service) releaseUpload(ctx context.Context, u Upload) {
	cctx, cancel := cleanupCtx(ctx)
	defer cancel()
	err := s.q.UploadRelease(cctx, s.pool, intakedb.UploadReleaseParams{ID: u.ID, OrgID: u.OrgID, ClaimedAt: u.ClaimedAt})
	if err != nil && u.ClaimedAt != nil {
		s.compensate(ctx, CleanupArgs{Action: CleanupReleaseUpload, OrgID: u.OrgID, UploadID: u.ID,
			ClaimedAt: *u.ClaimedAt}, err)
	}
}
