package intake

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"

	"github.com/google/uuid"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/dicomfile"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake/intakedb"
	"github.com/teleread/teleread/internal/photo"
)

// Input is one file of an upload request.
type Input struct {
	// Filename is the name the client gave; only its sanitised base name
	// is kept.
	Filename string
	// Body streams the bytes as uploaded.
	Body io.Reader
	// Size, when above 0, is the body's exact length (a raw body's
	// Content-Length): a large file then streams to object storage part
	// by part without a part buffer, and a body of another length is
	// refused.
	Size int64
	// BodySite and Dermoscopic describe a photo; DICOM files ignore them.
	BodySite    string
	Dermoscopic *bool
	// OnlyDICOM refuses anything but a DICOM file (a STOW-RS part).
	OnlyDICOM bool
	// StrictPatient refuses a DICOM file whose patient differs from the
	// case's, which a REST upload only warns about: software that pushes
	// studies has no one to read the warning.
	StrictPatient bool
	// CheckDICOM, when set, is called with a DICOM file's identity once
	// its header is read and before it joins the case; an error refuses
	// the file, and is returned in Result.CheckErr.
	CheckDICOM func(DICOMInfo) error
}

// DICOMInfo identifies a DICOM instance by the UIDs of its header.
type DICOMInfo struct {
	StudyInstanceUID  string
	SeriesInstanceUID string
	SOPInstanceUID    string
	SOPClassUID       string
	TransferSyntaxUID string
}

// Result is what became of one file.
type Result struct {
	Filename string
	Accepted bool
	// Reason says, for the sender, why the file was rejected.
	Reason string
	// File is the accepted file; for a duplicate, the file already there.
	File      *File
	Duplicate bool
	// SHA256 and Size are of the bytes read, whether accepted or not.
	SHA256 string
	Size   int64
	// DICOM identifies a DICOM file whose header could be read, accepted
	// or not; nil otherwise.
	DICOM *DICOMInfo
	// CheckErr is the error of Input.CheckDICOM that refused the file.
	CheckErr error
	// NotDICOM is set for a file refused because it is not DICOM (with
	// Input.OnlyDICOM) or its DICOM header could not be parsed.
	NotDICOM bool
	// TooLarge is set for a file refused for its size.
	TooLarge bool
	// Err is the internal failure behind a rejection, if any: the file
	// itself may be fine and can be sent again. It is logged, never shown.
	Err error
	// BodyErr is set when reading the request failed (the client went
	// away, or the request is over its size limit): no further file of the
	// request can be read.
	BodyErr error
}

// Unavailable returns r.Err when it is an apperr Unavailable (object
// storage down or full, the database unreachable): the file may be fine
// and nothing of it joined the case, so the request is answered 503 with
// Retry-After rather than as a refusal of the file.
func (r Result) Unavailable() *apperr.Error {
	if e, ok := apperr.As(r.Err); ok && e.Code == apperr.Unavailable {
		return e
	}
	return nil
}

// source is a file for ingest: streamed from the client, or read back from
// the presigned upload that already holds it.
type source struct {
	filename string
	r        io.Reader
	// storedKey is the object that already holds exactly these bytes (a
	// presigned upload); "" when they stream from the client.
	storedKey string
	// adoptable says that storedKey may become the file's object where it
	// lies (a completed multipart upload, which nothing can write again).
	adoptable bool
	// expectSHA256 and expectSize are what the client declared; "" and -1
	// when it declared nothing.
	expectSHA256 string
	expectSize   int64
	bodySite     string
	dermoscopic  *bool
	// onlyDICOM, strictPatient and check are Input's.
	onlyDICOM     bool
	strictPatient bool
	check         func(DICOMInfo) error
}

// pendingFile is a file whose bytes are stored and checked, before it
// joins its case.
type pendingFile struct {
	name        string
	kind        string
	contentType string
	// object holds the bytes to keep; owned objects are temporary and are
	// removed once the file is committed or refused. A small file is in
	// data instead (object ""), until release is called.
	object string
	owned  bool
	// adoptable says that commit may keep object as the file's own instead
	// of copying it to its content address (commit.go, adopt): a completed
	// multipart upload (source.adoptable) or a staged object. adopted says
	// that the committed file did.
	adoptable  bool
	adopted    bool
	data       []byte
	release    func()
	size       int64
	sha256     string
	storedSize int64
	storedSHA  string
	width      *int32
	height     *int32
	header     *dicomfile.Header
	// photoLayout is how the photo's VL Photographic Image carries it.
	photoLayout dicomfile.PhotoLayout
	warnings    []Warning
	metadata    map[string]any
	bodySite    *string
	dermoscopic *bool
}

var (
	// errTooLarge stops reading a file over its size limit.
	errTooLarge = errors.New("file over the size limit")
	// errRejected stops storing a file whose header was refused.
	errRejected = errors.New("file refused while streaming")
	// errNotDICOM refuses a file that must be DICOM and is not.
	errNotDICOM = &rejection{reason: "not a DICOM file: expected a DICOM Part 10 file (128-byte preamble, then \"DICM\")", unreadable: true}
)

// rejection is a refusal of one file, with the reason for the sender.
type rejection struct {
	reason string
	// unreadable marks a file that is not DICOM, or whose DICOM could not
	// be parsed.
	unreadable bool
}

func (r *rejection) Error() string { return r.reason }

func rejectf(format string, args ...any) error {
	return &rejection{reason: fmt.Sprintf(format, args...)}
}

// CheckUploadable refuses an upload before its bytes are read: the case
// must be the caller's site's and still editable.
func (s *Service) CheckUploadable(ctx context.Context, p *identity.Principal, caseID uuid.UUID) (cases.Case, error) {
	return s.cases.CheckUploadable(ctx, p, caseID)
}

// Add ingests one file streamed from the client into case c (which
// CheckUploadable returned). It never fails as a whole: what became of the
// file, accepted or rejected and why, is in the Result.
func (s *Service) Add(ctx context.Context, p *identity.Principal, c cases.Case, in Input) Result {
	return s.ingest(ctx, p, c, s.sourceOf(in))
}

// sourceOf is the source of a file streamed from the client.
func (s *Service) sourceOf(in Input) source {
	size := in.Size
	if size <= 0 {
		size = -1
	}
	return source{filename: SanitizeFilename(in.Filename), r: in.Body, expectSize: size,
		bodySite: in.BodySite, dermoscopic: in.Dermoscopic, onlyDICOM: in.OnlyDICOM, strictPatient: in.StrictPatient,
		check: in.CheckDICOM}
}

// ingest identifies, streams, checks and commits one file. Direct uploads
// and completed presigned uploads both come here.
func (s *Service) ingest(ctx context.Context, p *identity.Principal, c cases.Case, src source) Result {
	return s.process(ctx, c.SiteOrgID, &c, src, func(pf *pendingFile) (*File, bool, error) {
		return s.commit(ctx, p, c.ID, pf)
	})
}

// process is the per-file path every way in shares: identify and stream
// the file (hashing it, parsing a DICOM header, cleaning a photo), run the
// checks the caller asked for, then commit it with commit (into a case, or
// among the site's incoming studies). c, when set, is the case whose
// patient a strict check compares.
func (s *Service) process(ctx context.Context, org uuid.UUID, c *cases.Case, src source, commit func(*pendingFile) (*File, bool, error)) Result {
	st := s.prepare(ctx, org, c, src)
	if st.err == nil {
		st.res.File, st.res.Duplicate, st.err = commit(st.pf)
	}
	return s.finish(ctx, org, st)
}

// staged is a file read and checked (prepare), waiting for its commit and
// then finish.
type staged struct {
	res Result
	pf  *pendingFile
	hr  *hashReader
	err error
	// by is who sends the file, when a batch holds files of several
	// requests (commitGrouped).
	by *identity.Principal
	// after undoes what staging left once the file is committed or
	// refused, in reverse order.
	after []func()
}

// prepare reads and checks a file for process: everything but its commit.
func (s *Service) prepare(ctx context.Context, org uuid.UUID, c *cases.Case, src source) *staged {
	res := Result{Filename: src.filename}
	hr := &hashReader{r: src.r, h: sha256.New(), limit: s.opts.MaxFileBytes}
	br := bufio.NewReaderSize(hr, 64<<10)

	st := &staged{hr: hr}
	pf, err := s.stage(ctx, org, src, br, hr)
	st.pf = pf
	if pf != nil && pf.owned {
		st.after = append(st.after, func() {
			if !pf.adopted {
				s.removeObject(ctx, org, pf.object)
			}
		})
	}
	if pf != nil && pf.release != nil {
		st.after = append(st.after, pf.release)
	}
	if err == nil {
		pf.name = src.filename
		err = checkDeclared(src, pf)
	}
	if pf != nil && pf.header != nil {
		h := pf.header
		res.DICOM = &DICOMInfo{StudyInstanceUID: h.StudyInstanceUID, SeriesInstanceUID: h.SeriesInstanceUID,
			SOPInstanceUID: h.SOPInstanceUID, SOPClassUID: h.SOPClassUID, TransferSyntaxUID: h.TransferSyntaxUID}
		if err == nil && src.check != nil {
			if res.CheckErr = src.check(*res.DICOM); res.CheckErr != nil {
				err = &rejection{reason: res.CheckErr.Error()}
			}
		}
		if err == nil && src.strictPatient && c != nil {
			if mismatch := patientMismatch(h, *c); len(mismatch) > 0 {
				err = rejectf("the patient in this DICOM file does not match the case (different %s)", fieldList(mismatch))
			}
		}
	}
	if src.storedKey == "" && hr.err == nil && !hr.over {
		// Read what is left of a refused file, so that its checksum covers
		// every byte sent (idempotent retries compare them). A file that
		// passed its checks was read to its end already.
		_, _ = io.Copy(io.Discard, br)
	}
	res.SHA256, res.Size = hex.EncodeToString(hr.h.Sum(nil)), hr.n
	st.res, st.err = res, err
	return st
}

// finish turns a prepared file whose commit ran (or that was refused
// before it) into its Result, and undoes what staging left.
func (s *Service) finish(ctx context.Context, org uuid.UUID, st *staged) Result {
	defer func() {
		for i := len(st.after) - 1; i >= 0; i-- {
			st.after[i]()
		}
	}()
	res, err, hr := st.res, st.err, st.hr
	if err == nil {
		res.Accepted = true
		return res
	}
	var rej *rejection
	switch e, ok := apperr.As(err); {
	case errors.As(err, &rej):
		res.Reason = rej.reason
		res.NotDICOM, res.TooLarge = rej.unreadable, hr.over
	case ok && e.Code != apperr.Internal && e.Code != apperr.Unavailable:
		res.Reason = e.Message
	case hr.err != nil:
		res.BodyErr = hr.err
		res.Reason = "the upload was interrupted before the end of this file"
	case ok && e.Code == apperr.Unavailable:
		// Object storage (or the database) is down: the file is fine and
		// nothing of it joined the case; the caller answers 503 with
		// Retry-After (Result.Unavailable).
		res.Err = err
		res.Reason = e.Message
		s.opts.Logger.WarnContext(ctx, "ingest: storage unavailable", "org_id", org.String(), "error", err.Error())
	default:
		res.Err = err
		res.Reason = "the file could not be stored because of an internal error; send it again"
		s.opts.Logger.ErrorContext(ctx, "ingest failed", "org_id", org.String(), "error", err.Error())
	}
	return res
}

// stage identifies the file by its first bytes and stores it where it
// waits to join the case.
func (s *Service) stage(ctx context.Context, org uuid.UUID, src source, br *bufio.Reader, hr *hashReader) (*pendingFile, error) {
	if len(src.bodySite) > 200 {
		return nil, rejectf("body_site is longer than 200 characters")
	}
	head, _ := br.Peek(sniffLen)
	if hr.err != nil {
		return nil, hr.err
	}
	kind, format, reason := sniffKind(head)
	if src.onlyDICOM && kind != KindDICOM {
		return nil, errNotDICOM
	}
	switch kind {
	case KindDICOM:
		return s.storeDICOM(ctx, org, src, br, hr)
	case KindPhoto:
		return s.storePhoto(ctx, org, src, format, br, hr)
	}
	return nil, &rejection{reason: reason}
}

// storeDICOM stages a DICOM file. One of at most maxSmallDICOM bytes is
// read whole (stageSmallDICOM); a larger one streams to an object of its
// own (a staged object, which its file adopts at commit: no copy) while
// its SHA-256 is computed and its header parsed from the same bytes
// (through a pipe, without holding pixel data). A presigned upload is only
// read back.
func (s *Service) storeDICOM(ctx context.Context, org uuid.UUID, src source, br *bufio.Reader, hr *hashReader) (*pendingFile, error) {
	pf := &pendingFile{kind: KindDICOM, contentType: "application/dicom", object: src.storedKey, adoptable: src.adoptable}
	var in io.Reader = br
	if pf.object == "" {
		// Most instances are small: read whole, they go straight to their
		// content address at commit (PutBytes) instead of through an object
		// of their own.
		bp := s.small.Get().(*[]byte)
		n, err := io.ReadFull(br, *bp)
		if (err == io.EOF || err == io.ErrUnexpectedEOF) && !hr.over && hr.err == nil {
			return s.stageSmallDICOM(pf, (*bp)[:n], func() { s.small.Put(bp) }, hr)
		}
		defer s.small.Put(bp)
		in = io.MultiReader(bytes.NewReader((*bp)[:n]), br)
		// Noted before a byte is written, so that the sweep finds it if
		// this upload never commits (migrations/00018).
		key := objectKey(org)
		if err := s.q.StagedObjectInsert(ctx, s.pool, intakedb.StagedObjectInsertParams{Key: key, OrgID: org}); err != nil {
			return nil, fmt.Errorf("stage object: %w", err)
		}
		pf.object, pf.owned, pf.adoptable = key, true, true
	}
	pr, pw := io.Pipe()
	type parsed struct {
		h   *dicomfile.Header
		err error
	}
	done := make(chan parsed, 1)
	go func() {
		h, err := dicomfile.ReadHeader(pr, -1)
		var inv *dicomfile.InvalidError
		if errors.As(err, &inv) {
			pr.CloseWithError(errRejected) // stop storing what cannot be accepted
		}
		// Drain, so that the tee never blocks on a parser that has stopped.
		_, _ = io.Copy(io.Discard, pr)
		done <- parsed{h, err}
	}()
	tee := io.TeeReader(in, pw)
	var storeErr error
	if pf.owned {
		// A declared size is the length of the whole body, which tee is.
		_, storeErr = s.store.Put(ctx, pf.object, tee, src.expectSize, pf.contentType)
	} else {
		_, storeErr = io.Copy(io.Discard, tee)
	}
	pw.CloseWithError(storeErr)
	got := <-done
	var inv *dicomfile.InvalidError
	switch {
	case hr.over:
		return pf, rejectf("the file is larger than the limit of %d bytes", hr.limit)
	case hr.err != nil:
		return pf, hr.err
	case errors.As(got.err, &inv):
		return pf, &rejection{reason: "invalid DICOM: " + inv.Reason, unreadable: true}
	case storeErr != nil:
		return pf, storeErr
	case got.err != nil:
		return pf, got.err
	}
	describeDICOM(pf, got.h, hr)
	return pf, nil
}

// stageSmallDICOM stages a DICOM file read whole into data (released by
// release once the file is committed or refused).
func (s *Service) stageSmallDICOM(pf *pendingFile, data []byte, release func(), hr *hashReader) (*pendingFile, error) {
	pf.object, pf.owned, pf.data, pf.release = "", false, data, release
	h, err := dicomfile.ReadHeader(bytes.NewReader(data), int64(len(data)))
	var inv *dicomfile.InvalidError
	switch {
	case errors.As(err, &inv):
		return pf, &rejection{reason: "invalid DICOM: " + inv.Reason, unreadable: true}
	case err != nil:
		return pf, err
	}
	describeDICOM(pf, h, hr)
	return pf, nil
}

// describeDICOM fills in what pf is, from its header and hashed bytes.
func describeDICOM(pf *pendingFile, h *dicomfile.Header, hr *hashReader) {
	pf.header, pf.size, pf.sha256 = h, hr.n, hex.EncodeToString(hr.h.Sum(nil))
	pf.storedSize, pf.storedSHA = pf.size, pf.sha256
	if h.Rows > 0 && h.Columns > 0 {
		w, ht := int32(h.Columns), int32(h.Rows)
		pf.width, pf.height = &w, &ht
	}
	pf.warnings = []Warning{}
	pf.metadata = map[string]any{"transfer_syntax": h.TransferSyntaxUID, "sop_class_uid": h.SOPClassUID,
		"modality": h.Modality, "frames": h.NumberOfFrames, "photometric": h.PhotometricInterpretation,
		"has_pixel_data": h.HasPixelData}
}

// storePhoto spools a photo to a temporary file on disk (the original may
// carry GPS, so it never reaches object storage), cleans it with
// photo.Process and streams the cleaned copy to a temporary object.
func (s *Service) storePhoto(ctx context.Context, org uuid.UUID, src source, format photo.Format, br *bufio.Reader, hr *hashReader) (*pendingFile, error) {
	hr.limit = min(hr.limit, s.opts.MaxPhotoBytes)
	spool, err := newSpool(s.opts.TempDir)
	if err != nil {
		return nil, err
	}
	defer spool.remove()
	if _, err := io.Copy(spool.f, br); err != nil {
		switch {
		case hr.over:
			return nil, rejectf("the photo is larger than the limit of %d bytes", hr.limit)
		case hr.err != nil:
			return nil, hr.err
		}
		return nil, fmt.Errorf("spool photo: %w", err)
	}
	if _, err := spool.f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("rewind photo: %w", err)
	}
	select {
	case s.photos <- struct{}{}:
		defer func() { <-s.photos }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}

	stored := format
	if format == photo.FormatWebP {
		stored = photo.FormatPNG
	}
	pf := &pendingFile{kind: KindPhoto, contentType: stored.ContentType(), object: tmpKey(org), owned: true,
		size: hr.n, sha256: hex.EncodeToString(hr.h.Sum(nil)), dermoscopic: src.dermoscopic}
	if bs := strings.TrimSpace(src.bodySite); bs != "" {
		pf.bodySite = &bs
	}
	pr, pw := io.Pipe()
	head := &headCapture{max: maxPhotoHead}
	var res *photo.Result
	var perr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, perr = photo.Process(io.MultiWriter(pw, head), spool.f, s.opts.Photo)
		pw.CloseWithError(perr)
	}()
	info, putErr := s.store.Put(ctx, pf.object, pr, -1, pf.contentType)
	pr.CloseWithError(errRejected) // unblock Process if the put stopped early
	<-done
	var inv *photo.InvalidError
	switch {
	case errors.As(perr, &inv):
		return pf, rejectf("invalid photo: %s", inv.Reason)
	case putErr != nil:
		return pf, putErr
	case perr != nil:
		return pf, perr
	}
	if pf.photoLayout, err = s.photoLayout(ctx, head, pf.object); err != nil {
		// The photo is good; only its DICOM view cannot be made. It is
		// accepted, and the start-up backfill tries (and logs) it again.
		s.opts.Logger.WarnContext(ctx, "photo not added to the photo index", "error", err.Error())
		pf.photoLayout = dicomfile.PhotoLayout{}
	}
	w, h := int32(res.Width), int32(res.Height)
	pf.width, pf.height = &w, &h
	pf.contentType = res.ContentType
	pf.storedSize, pf.storedSHA = info.Size, info.SHA256
	pf.warnings = photoWarnings(res)
	pf.metadata = map[string]any{"source_format": string(res.SourceFormat), "stored_format": string(res.Format),
		"stripped": res.StrippedMetadata, "had_gps": res.HadGPS, "orientation": res.Orientation,
		"reencoded": res.Reencoded, "measures": map[string]float64{
			"laplacian_variance": res.Measures.LaplacianVariance, "mean_luma": res.Measures.MeanLuma,
			"dark_fraction": res.Measures.DarkFraction, "bright_fraction": res.Measures.BrightFraction}}
	return pf, nil
}

// photoWarnings turns photo quality warnings into file warnings with the
// measured value behind each.
func photoWarnings(res *photo.Result) []Warning {
	out := make([]Warning, 0, len(res.Warnings))
	for _, w := range res.Warnings {
		var v float64
		switch w.Code {
		case photo.WarnTooSmall:
			v = float64(min(res.Width, res.Height))
		case photo.WarnBlurred:
			v = res.Measures.LaplacianVariance
		case photo.WarnUnderExposed, photo.WarnOverExposed:
			v = res.Measures.MeanLuma
		}
		out = append(out, Warning{Code: string(w.Code), Message: w.Message, Value: &v})
	}
	return out
}

// checkDeclared compares a presigned upload with what its client declared.
func checkDeclared(src source, pf *pendingFile) error {
	if src.expectSize >= 0 && pf.size != src.expectSize {
		return rejectf("size mismatch: %d bytes were declared but %d arrived", src.expectSize, pf.size)
	}
	if src.expectSHA256 != "" && pf.sha256 != src.expectSHA256 {
		return rejectf("checksum mismatch: SHA-256 %s was declared but the bytes that arrived have %s", src.expectSHA256, pf.sha256)
	}
	return nil
}

// removeObject deletes a temporary object, or the bytes of a finished
// presigned upload; a failure is logged and retried by a clean-up job.
func (s *Service) removeObject(ctx context.Context, org uuid.UUID, key string) {
	cctx, cancel := cleanupCtx(ctx)
	defer cancel()
	if err := s.store.Delete(cctx, key); err != nil {
		s.compensate(ctx, CleanupArgs{Action: CleanupDeleteObject, OrgID: org, Key: key}, err)
	}
}

// hashReader counts and hashes what is read through it, stops at a size
// limit, and keeps the first read error of the underlying reader.
type hashReader struct {
	r     io.Reader
	h     hash.Hash
	n     int64
	limit int64
	over  bool
	err   error
}

func (h *hashReader) Read(p []byte) (int, error) {
	if h.over {
		return 0, errTooLarge
	}
	room := h.limit + 1 - h.n
	if room <= 0 {
		h.over = true
		return 0, errTooLarge
	}
	if int64(len(p)) > room {
		p = p[:room]
	}
	n, err := h.r.Read(p)
	if h.n+int64(n) > h.limit {
		h.over = true
		return 0, errTooLarge
	}
	h.n += int64(n)
	h.h.Write(p[:n])
	if err != nil && !errors.Is(err, io.EOF) && h.err == nil {
		h.err = err
	}
	return n, err
}
