-- Queries of the intake package: files, the DICOM index, presigned uploads
-- and idempotency keys. Visibility of a file is that of its case, checked
-- by the cases package before these run; queries that take an org_id scope
-- to the caller's organisation on top.

-- name: FileInsert :one
INSERT INTO files (case_id, org_id, kind, filename, content_type, size, sha256, blob_key, stored_size,
                   stored_sha256, uploaded_by, width, height, body_site, dermoscopic, warnings, metadata,
                   patient_mismatch)
VALUES (@case_id, @org_id, @kind, @filename, @content_type, @size, @sha256, @blob_key, @stored_size,
        @stored_sha256, @uploaded_by, @width, @height, @body_site, @dermoscopic, @warnings, @metadata,
        @patient_mismatch)
RETURNING *;

-- name: FileGet :one
SELECT * FROM files WHERE id = @id;

-- name: FileGetByCaseSHA :one
SELECT * FROM files WHERE case_id = @case_id AND sha256 = @sha256;

-- name: FileListByCase :many
SELECT * FROM files WHERE case_id = @case_id ORDER BY created_at, id;

-- name: FileBlobInUse :one
-- FileBlobInUse reports whether a file row refers to a stored object.
SELECT EXISTS (SELECT 1 FROM files WHERE org_id = @org_id AND blob_key = @blob_key)::boolean;

-- name: FileSetPreview :exec
UPDATE files SET preview_status = @preview_status, preview_note = @preview_note,
    preview_key = @preview_key, thumbnail_key = @thumbnail_key
WHERE id = @id;

-- name: FileInstance :one
-- FileInstance returns the DICOM instance stored in a file.
SELECT * FROM dicom_instances WHERE file_id = @file_id;

-- name: BlobLockShared :exec
-- BlobLockShared keeps a stored object from being removed until the
-- transaction ends, while files that refer to it are added.
SELECT pg_advisory_xact_lock_shared(hashtextextended(@blob_key::text, 7413004));

-- name: BlobLock :exec
-- BlobLock is taken by whoever removes a stored object no file refers to.
SELECT pg_advisory_xact_lock(hashtextextended(@blob_key::text, 7413004));

-- name: StudyUpsert :one
-- StudyUpsert adds a study to a case, or returns the organisation's
-- existing row of that Study Instance UID (which may belong to another case).
INSERT INTO dicom_studies (org_id, case_id, study_instance_uid, patient_name, patient_id, patient_birth_date,
                           patient_sex, study_date, study_time, study_description, accession_number)
VALUES (@org_id, @case_id, @study_instance_uid, @patient_name, @patient_id, @patient_birth_date,
        @patient_sex, @study_date, @study_time, @study_description, @accession_number)
ON CONFLICT (org_id, study_instance_uid) DO UPDATE SET study_instance_uid = EXCLUDED.study_instance_uid
RETURNING *;

-- name: SeriesUpsert :one
INSERT INTO dicom_series (org_id, study_id, series_instance_uid, modality, body_part, series_description, series_number)
VALUES (@org_id, @study_id, @series_instance_uid, @modality, @body_part, @series_description, @series_number)
ON CONFLICT (org_id, series_instance_uid) DO UPDATE SET series_instance_uid = EXCLUDED.series_instance_uid
RETURNING *;

-- name: InstanceInsert :one
INSERT INTO dicom_instances (org_id, series_id, file_id, sop_instance_uid, sop_class_uid, instance_number,
                             rows, columns, frames, transfer_syntax, photometric)
VALUES (@org_id, @series_id, @file_id, @sop_instance_uid, @sop_class_uid, @instance_number,
        @rows, @columns, @frames, @transfer_syntax, @photometric)
RETURNING *;

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
WHERE i.file_id = @file_id;

-- name: StudyListByCase :many
SELECT * FROM dicom_studies WHERE case_id = @case_id ORDER BY study_date, created_at, id;

-- name: SeriesListByCase :many
SELECT s.*, count(i.id)::int AS instances, coalesce(sum(i.frames), 0)::int AS frames
FROM dicom_series s
JOIN dicom_studies st ON st.id = s.study_id
LEFT JOIN dicom_instances i ON i.series_id = s.id
WHERE st.case_id = @case_id
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
WHERE id = @id AND expires_at > now()
  AND (status = 'pending' OR (status = 'completing' AND claimed_at < now() - @stale_after::interval))
RETURNING *;

-- name: UploadRelease :exec
-- UploadRelease gives a claimed upload back, so that the client can send
-- what is missing and complete again.
UPDATE uploads SET status = 'pending', claimed_at = NULL WHERE id = @id AND status = 'completing';

-- name: UploadFinish :exec
UPDATE uploads SET status = @status, file_id = @file_id, error = @error, completed_at = now()
WHERE id = @id;

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

-- name: IdempotencyFinish :exec
UPDATE idempotency_keys SET status_code = @status_code, response = @response, request_hash = @request_hash
WHERE org_id = @org_id AND key = @key;

-- name: IdempotencyRelease :exec
DELETE FROM idempotency_keys WHERE org_id = @org_id AND key = @key AND status_code IS NULL;

-- name: IdempotencyDeleteOld :execrows
DELETE FROM idempotency_keys WHERE created_at < now() - @older_than::interval;

-- name: OrgIDs :many
SELECT id FROM orgs ORDER BY id;
