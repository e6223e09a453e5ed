-- Queries of the intake package: files, the DICOM index, presigned uploads
-- and idempotency keys. Every statement that reads or locks tenant data by
-- an id from a request carries the caller's scope: @org_id, the caller's
-- organisation, matches a file of that site or of a case routed to that
-- reading group; @platform is the explicit flag of platform admins. The
-- finer visibility of a file (that of its case) is checked by the cases
-- package. Queries run only by jobs are marked "-- scope: worker".

-- name: FileInsert :one
INSERT INTO files (case_id, org_id, kind, filename, content_type, size, sha256, blob_key, stored_size,
                   stored_sha256, uploaded_by, width, height, body_site, dermoscopic, warnings, metadata,
                   patient_mismatch, preview_status)
VALUES (@case_id, @org_id, @kind, @filename, @content_type, @size, @sha256, @blob_key, @stored_size,
        @stored_sha256, @uploaded_by, @width, @height, @body_site, @dermoscopic, @warnings, @metadata,
        @patient_mismatch, @preview_status)
RETURNING *;

-- name: FileGet :one
-- FileGet returns a file of the caller's site or of a case routed to the
-- caller's reading group.
SELECT f.* FROM files f
WHERE f.id = @id
  AND (@platform::boolean OR f.org_id = @org_id
       OR EXISTS (SELECT 1 FROM cases c WHERE c.id = f.case_id AND c.reading_group_id = @org_id));

-- scope: worker — the preview job loads the file its own job row names.
-- name: FileGetForRender :one
SELECT * FROM files WHERE id = @id;

-- name: FileDuplicates :many
-- FileDuplicates finds, in one statement, what already holds an upload in
-- the organisation: the case's file with the same bytes (same_bytes), and
-- the file of any of its cases holding the same SOP Instance UID (none
-- when @sop_instance_uid is null).
SELECT sqlc.embed(f), (f.case_id = @case_id AND f.sha256 = @sha256)::boolean AS same_bytes
FROM files f
WHERE f.org_id = @org_id
  AND ((f.case_id = @case_id AND f.sha256 = @sha256)
       OR f.id = (SELECT i.file_id FROM dicom_instances i
                  WHERE i.org_id = @org_id AND i.sop_instance_uid = sqlc.narg(sop_instance_uid)::text));

-- name: FileListByCase :many
SELECT f.* FROM files f
WHERE f.case_id = @case_id
  AND (@platform::boolean OR f.org_id = @org_id
       OR EXISTS (SELECT 1 FROM cases c WHERE c.id = f.case_id AND c.reading_group_id = @org_id))
ORDER BY f.created_at, f.id;

-- name: FileBlobInUse :one
-- FileBlobInUse reports whether a file row, or an instance of an incoming
-- study, refers to a stored object.
SELECT (EXISTS (SELECT 1 FROM files f WHERE f.org_id = @org_id AND f.blob_key = @blob_key)
     OR EXISTS (SELECT 1 FROM incoming_instances ii WHERE ii.org_id = @org_id AND ii.blob_key = @blob_key))::boolean;

-- scope: worker — the preview job records the rendering of the file its job row names.
-- name: FileSetPreview :exec
UPDATE files SET preview_status = @preview_status, preview_note = @preview_note,
    preview_key = @preview_key, thumbnail_key = @thumbnail_key
WHERE id = @id;

-- scope: worker — the preview job reads the frame count of the file its job row names.
-- name: FileInstance :one
-- FileInstance returns the DICOM instance stored in a file.
SELECT * FROM dicom_instances WHERE file_id = @file_id;

-- name: BlobLockShared :exec
-- BlobLockShared keeps a stored object from being removed until the
-- transaction ends, while files that refer to it are added.
SELECT pg_advisory_xact_lock_shared(hashtextextended(@blob_key::text, 7413004));

-- name: BlobLocksShared :exec
-- BlobLocksShared is BlobLockShared for several stored objects at once (a
-- batch's files).
SELECT pg_advisory_xact_lock_shared(hashtextextended(k, 7413004)) FROM unnest(@blob_keys::text[]) AS k;

-- name: BlobLock :exec
-- BlobLock is taken by whoever removes a stored object no file refers to.
SELECT pg_advisory_xact_lock(hashtextextended(@blob_key::text, 7413004));

-- name: SeriesUpsert :one
-- SeriesUpsert adds a DICOM file's study to a case and its series to the
-- study in one statement, or finds the organisation's existing rows of
-- those UIDs, locked. The caller refuses (and rolls back) a study of
-- another case (study_case_id) and a series of another study
-- (series_study_id other than study_id); series_created is true for a
-- series' first instance.
WITH st AS (
    INSERT INTO dicom_studies (org_id, case_id, study_instance_uid, patient_name, patient_id, patient_birth_date,
                               patient_sex, study_date, study_time, study_description, accession_number,
                               referring_physician_name)
    VALUES (@org_id, @case_id, @study_instance_uid, @patient_name, @patient_id, @patient_birth_date,
            @patient_sex, @study_date, @study_time, @study_description, @accession_number,
            @referring_physician_name)
    ON CONFLICT (org_id, study_instance_uid) DO UPDATE SET study_instance_uid = EXCLUDED.study_instance_uid,
        referring_physician_name = CASE WHEN dicom_studies.referring_physician_name = ''
                                        THEN EXCLUDED.referring_physician_name
                                        ELSE dicom_studies.referring_physician_name END
        WHERE dicom_studies.org_id = @org_id
    RETURNING id, case_id
), se AS (
    INSERT INTO dicom_series (org_id, study_id, series_instance_uid, modality, body_part, series_description, series_number)
    SELECT @org_id, st.id, @series_instance_uid, @modality, @body_part, @series_description, @series_number FROM st
    ON CONFLICT (org_id, series_instance_uid) DO UPDATE SET series_instance_uid = EXCLUDED.series_instance_uid
        WHERE dicom_series.org_id = @org_id
    RETURNING id, study_id, (xmax = 0)::boolean AS created
)
SELECT st.id AS study_id, st.case_id AS study_case_id,
       se.id AS series_id, se.study_id AS series_study_id, se.created AS series_created
FROM st JOIN se ON true;

-- name: FileInsertInstance :one
-- FileInsertInstance adds a DICOM file and its instance in one statement:
-- the files row, the instance in its series, and its count on the series
-- and study rows, which QIDO-RS answers from (migrations/00017); the
-- upload's SeriesUpsert already holds both rows' locks. @new_series is
-- true for a series' first instance; a new series may add a modality to
-- the study.
WITH f AS (
    INSERT INTO files (case_id, org_id, kind, filename, content_type, size, sha256, blob_key, stored_size,
                       stored_sha256, uploaded_by, width, height, body_site, dermoscopic, warnings, metadata,
                       patient_mismatch, preview_status)
    VALUES (@case_id, @org_id, @kind, @filename, @content_type, @size, @sha256, @blob_key, @stored_size,
            @stored_sha256, @uploaded_by, @width, @height, @body_site, @dermoscopic, @warnings, @metadata,
            @patient_mismatch, @preview_status)
    RETURNING *
), se AS (
    UPDATE dicom_series ds SET instance_count = ds.instance_count + 1
    WHERE ds.id = @series_id AND ds.org_id = @org_id
    RETURNING ds.study_id, ds.modality
), st AS (
    UPDATE dicom_studies s
    SET instance_count = s.instance_count + 1,
        series_count = s.series_count + CASE WHEN @new_series::boolean THEN 1 ELSE 0 END,
        modalities = CASE WHEN se.modality = '' OR se.modality = ANY(string_to_array(s.modalities, '\')) THEN s.modalities
                          ELSE array_to_string(ARRAY(SELECT m FROM unnest(string_to_array(s.modalities, '\') || se.modality) m
                                                     ORDER BY m), '\') END
    FROM se WHERE s.id = se.study_id AND s.org_id = @org_id
    RETURNING s.id
), i AS (
    INSERT INTO dicom_instances (org_id, series_id, file_id, sop_instance_uid, sop_class_uid, instance_number,
                                 rows, columns, frames, transfer_syntax, photometric)
    SELECT @org_id, @series_id, f.id, @sop_instance_uid, @sop_class_uid, @instance_number,
           @rows, @columns, @frames, @transfer_syntax, @photometric
    FROM f
    RETURNING dicom_instances.id
)
SELECT f.* FROM f;

-- name: InstanceOwner :one
-- InstanceOwner finds the file and case that hold a SOP Instance UID in an
-- organisation.
SELECT i.file_id, f.case_id
FROM dicom_instances i JOIN files f ON f.id = i.file_id
WHERE i.org_id = @org_id AND i.sop_instance_uid = @sop_instance_uid;

-- name: FileDicom :one
-- FileDicom returns where a DICOM file sits in the study/series index.
SELECT i.sop_instance_uid, i.sop_class_uid, i.instance_number, i.frames, i.transfer_syntax,
       se.series_instance_uid, se.modality, se.series_number, st.study_instance_uid
FROM dicom_instances i
JOIN dicom_series se ON se.id = i.series_id
JOIN dicom_studies st ON st.id = se.study_id
WHERE i.file_id = @file_id
  AND (@platform::boolean OR i.org_id = @org_id
       OR EXISTS (SELECT 1 FROM cases c WHERE c.id = st.case_id AND c.reading_group_id = @org_id));

-- name: StudyListByCase :many
SELECT st.* FROM dicom_studies st
WHERE st.case_id = @case_id
  AND (@platform::boolean OR st.org_id = @org_id
       OR EXISTS (SELECT 1 FROM cases c WHERE c.id = st.case_id AND c.reading_group_id = @org_id))
ORDER BY st.study_date, st.created_at, st.id;

-- name: SeriesListByCase :many
SELECT s.*, count(i.id)::int AS instances, coalesce(sum(i.frames), 0)::int AS frames
FROM dicom_series s
JOIN dicom_studies st ON st.id = s.study_id
LEFT JOIN dicom_instances i ON i.series_id = s.id
WHERE st.case_id = @case_id
  AND (@platform::boolean OR st.org_id = @org_id
       OR EXISTS (SELECT 1 FROM cases c WHERE c.id = st.case_id AND c.reading_group_id = @org_id))
GROUP BY s.id
ORDER BY s.series_number NULLS LAST, s.created_at, s.id;

-- name: UploadInsert :one
INSERT INTO uploads (id, case_id, org_id, created_by, filename, content_type, size, sha256, object_key,
                     multipart_id, part_size, expires_at)
VALUES (@id, @case_id, @org_id, @created_by, @filename, @content_type, @size, @sha256, @object_key,
        @multipart_id, @part_size, @expires_at)
RETURNING *;

-- name: UploadGet :one
SELECT * FROM uploads WHERE id = @id AND case_id = @case_id AND org_id = @org_id;

-- name: UploadClaim :one
-- UploadClaim marks a pending upload as being completed. A claim older than
-- stale_after (a process that died while completing) may be taken over.
UPDATE uploads SET status = 'completing', claimed_at = now()
WHERE id = @id AND org_id = @org_id AND expires_at > now()
  AND (status = 'pending' OR (status = 'completing' AND claimed_at < now() - @stale_after::interval))
RETURNING *;

-- name: UploadRelease :exec
-- UploadRelease gives a claimed upload back, so that the client can send
-- what is missing and complete again. Only the claim made at claimed_at is
-- released: a release retried by a job never frees a later claim.
UPDATE uploads SET status = 'pending', claimed_at = NULL
WHERE id = @id AND org_id = @org_id AND status = 'completing' AND claimed_at = @claimed_at;

-- name: UploadFinish :exec
UPDATE uploads SET status = @status, file_id = @file_id, error = @error, completed_at = now()
WHERE id = @id AND org_id = @org_id;

-- scope: worker — the intake sweep expires every organisation's stale uploads.
-- name: UploadListExpired :many
-- UploadListExpired finds incomplete uploads past their expiry, except one
-- being completed right now.
SELECT * FROM uploads
WHERE expires_at < now()
  AND (status = 'pending' OR (status = 'completing' AND claimed_at < now() - @stale_after::interval))
ORDER BY expires_at
LIMIT @lim;

-- name: IdempotencyClaim :one
-- IdempotencyClaim records a request as in flight; no row means the key
-- was already used.
INSERT INTO idempotency_keys (org_id, key, route, request_hash)
VALUES (@org_id, @key, @route, @request_hash)
ON CONFLICT (org_id, key) DO NOTHING
RETURNING *;

-- name: IdempotencyGet :one
SELECT * FROM idempotency_keys WHERE org_id = @org_id AND key = @key;

-- name: IdempotencyTakeOver :one
-- IdempotencyTakeOver claims a key whose request has been in flight longer
-- than stale_after (its process died).
UPDATE idempotency_keys SET created_at = now(), route = @route, request_hash = @request_hash
WHERE org_id = @org_id AND key = @key AND status_code IS NULL AND created_at < now() - @stale_after::interval
RETURNING *;

-- name: IdempotencyFinish :execrows
-- IdempotencyFinish stores the answer of the request that claimed key at
-- claimed_at; no row means a retry took the claim over (it went stale).
UPDATE idempotency_keys SET status_code = @status_code, response = @response, request_hash = @request_hash
WHERE org_id = @org_id AND key = @key AND created_at = @claimed_at;

-- name: IdempotencyRelease :exec
-- IdempotencyRelease forgets the in-flight claim of a key made at
-- claimed_at (a release retried by a job never frees a later claim of the
-- same key, which a take-over stamps with its own time).
DELETE FROM idempotency_keys
WHERE org_id = @org_id AND key = @key AND status_code IS NULL AND created_at = @claimed_at;

-- name: IdempotencyRenew :one
-- IdempotencyRenew keeps the in-flight claim of a key made at claimed_at
-- fresh while its request runs, so that only the claim of a request whose
-- process died goes stale; it returns the claim's new time.
UPDATE idempotency_keys SET created_at = now()
WHERE org_id = @org_id AND key = @key AND status_code IS NULL AND created_at = @claimed_at
RETURNING created_at;

-- scope: worker — the intake sweep forgets every organisation's old keys.
-- name: IdempotencyDeleteOld :execrows
DELETE FROM idempotency_keys WHERE created_at < now() - @older_than::interval;

-- scope: worker — the intake sweep finds the organisations whose temporary objects it removes.
-- name: OrgIDs :many
SELECT id FROM orgs ORDER BY id;

-- scope: worker — the intake sweep and clean-up jobs check a multipart upload found in object storage.
-- name: UploadLive :one
-- UploadLive reports whether a pending or completing upload refers to a
-- multipart upload.
SELECT EXISTS (SELECT 1 FROM uploads WHERE object_key = @object_key AND multipart_id = @multipart_id
               AND status IN ('pending', 'completing'))::boolean;

-- name: IncomingStudyUpsert :one
-- IncomingStudyUpsert records the arrival of an instance of a study pushed
-- site-wide: a new incoming study, or the site's existing one (which may be
-- attached to a case already).
INSERT INTO incoming_studies (org_id, study_instance_uid, patient_name, patient_id, patient_birth_date, patient_sex,
    study_date, study_time, study_description, accession_number)
VALUES (@org_id, @study_instance_uid, @patient_name, @patient_id, @patient_birth_date, @patient_sex,
    @study_date, @study_time, @study_description, @accession_number)
ON CONFLICT (org_id, study_instance_uid) DO UPDATE SET last_received_at = now()
WHERE incoming_studies.org_id = @org_id
RETURNING *;

-- name: IncomingInstanceInsert :one
-- IncomingInstanceInsert adds an instance to an incoming study; no row
-- means the site already has that SOP instance.
INSERT INTO incoming_instances (org_id, study_id, series_instance_uid, sop_instance_uid, sop_class_uid, modality,
    transfer_syntax, blob_key, size, sha256, received_by)
VALUES (@org_id, @study_id, @series_instance_uid, @sop_instance_uid, @sop_class_uid, @modality,
    @transfer_syntax, @blob_key, @size, @sha256, @received_by)
ON CONFLICT (org_id, sop_instance_uid) DO NOTHING
RETURNING *;

-- name: IncomingInstanceBySOP :one
SELECT * FROM incoming_instances WHERE org_id = @org_id AND sop_instance_uid = @sop_instance_uid;

-- name: StudyCaseOf :one
-- StudyCaseOf returns the case of the site that holds a study, if any.
SELECT case_id FROM dicom_studies WHERE org_id = @org_id AND study_instance_uid = @study_instance_uid;

-- name: IncomingStudyList :many
-- IncomingStudyList lists a site's incoming studies not attached to a
-- case, newest arrival first, with what a person needs to recognise them.
SELECT s.*, count(i.id)::bigint AS instances,
       coalesce(string_agg(DISTINCT nullif(i.modality, ''), '\' ORDER BY nullif(i.modality, '')), '')::text AS modalities
FROM incoming_studies s
JOIN incoming_instances i ON i.study_id = s.id AND i.org_id = s.org_id
WHERE s.org_id = @org_id AND s.case_id IS NULL
GROUP BY s.id
ORDER BY s.last_received_at DESC, s.id
LIMIT @lim;

-- name: IncomingStudyGet :one
SELECT * FROM incoming_studies WHERE id = @id AND org_id = @org_id;

-- name: IncomingStudyLock :one
-- IncomingStudyLock locks an incoming study of the site for attaching.
SELECT * FROM incoming_studies WHERE id = @id AND org_id = @org_id FOR UPDATE;

-- name: IncomingInstancesOf :many
SELECT * FROM incoming_instances WHERE study_id = @study_id AND org_id = @org_id ORDER BY series_instance_uid, sop_instance_uid;

-- name: IncomingInstanceAttach :exec
UPDATE incoming_instances SET file_id = @file_id WHERE id = @id AND org_id = @org_id;

-- name: IncomingStudyAttach :execrows
-- IncomingStudyAttach marks a study attached once every instance is a
-- file of the case.
UPDATE incoming_studies s SET case_id = @case_id, attached_at = now()
WHERE s.id = @id AND s.org_id = @org_id AND s.case_id IS NULL
  AND NOT EXISTS (SELECT 1 FROM incoming_instances ii WHERE ii.study_id = s.id AND ii.org_id = s.org_id AND ii.file_id IS NULL);

-- name: StagedObjectInsert :exec
-- StagedObjectInsert notes an object about to be streamed that is not yet
-- any file's (migrations/00018).
INSERT INTO staged_objects (key, org_id) VALUES (@key, @org_id);

-- name: StagedObjectDelete :exec
-- StagedObjectDelete forgets a staged object: its file adopted it, or the
-- sweep removed it.
DELETE FROM staged_objects WHERE key = @key AND org_id = @org_id;

-- scope: worker — the intake sweep removes every organisation's staged objects that no upload committed.
-- name: StagedObjectsOld :many
SELECT key, org_id FROM staged_objects WHERE created_at < now() - @older_than::interval
ORDER BY created_at LIMIT @lim;
