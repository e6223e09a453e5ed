-- Queries of the reports package. Who may read a report is one predicate,
-- here in SQL (see ReportGetVisible): platform admins see every report; the
-- reading group the case is routed to sees drafts and signed reports; the
-- site sees signed reports only (site staff and admins all of the site's,
-- a referring physician those of the cases they refer or created).

-- name: CaseLock :one
SELECT * FROM cases WHERE id = @id FOR UPDATE;

-- name: ReportGetForUpdate :one
SELECT * FROM reports WHERE case_id = @case_id FOR UPDATE;

-- name: ReportInsert :one
INSERT INTO reports (case_id, findings, impression, diagnoses, recommendations, follow_up, critical, author_id, updated_by)
VALUES (@case_id, @findings, @impression, @diagnoses, @recommendations, @follow_up, @critical, @author_id, @author_id)
RETURNING *;

-- name: ReportVersionInsert :exec
-- ReportVersionInsert keeps the content of a draft before a save replaces it.
INSERT INTO report_versions (report_id, version, findings, impression, diagnoses, recommendations, follow_up,
                             critical, saved_by, saved_at)
SELECT id, version, findings, impression, diagnoses, recommendations, follow_up, critical, updated_by, updated_at
FROM reports WHERE id = @id;

-- name: ReportUpdateDraft :one
UPDATE reports SET findings = @findings, impression = @impression, diagnoses = @diagnoses,
    recommendations = @recommendations, follow_up = @follow_up, critical = @critical,
    version = version + 1, updated_by = @updated_by, updated_at = now()
WHERE id = @id AND status = 'draft'
RETURNING *;

-- name: ReportSetSigned :one
UPDATE reports SET status = @status, content_sha256 = @content_sha256, updated_at = now()
WHERE id = @id
RETURNING *;

-- name: SignatureInsert :exec
INSERT INTO report_signatures (report_id, kind, signer_id, signer_name, signed_at, content_sha256, sha256)
VALUES (@report_id, @kind, @signer_id, @signer_name, @signed_at, @content_sha256, @sha256);

-- name: SignatureList :many
SELECT * FROM report_signatures WHERE report_id = @report_id ORDER BY signed_at;

-- name: AddendumInsert :one
INSERT INTO report_addenda (report_id, text, signer_id, signer_name, signed_at, sha256)
VALUES (@report_id, @text, @signer_id, @signer_name, @signed_at, @sha256)
RETURNING *;

-- name: AddendumList :many
SELECT * FROM report_addenda WHERE report_id = @report_id ORDER BY signed_at, id;

-- name: VersionList :many
SELECT * FROM report_versions WHERE report_id = @report_id ORDER BY version;

-- name: ReportGetVisible :one
-- ReportGetVisible finds a report by its id or by its case's id, if p may
-- read it.
SELECT r.* FROM reports r
JOIN cases c ON c.id = r.case_id
WHERE (r.id = sqlc.narg(id) OR r.case_id = sqlc.narg(case_id)) AND (
    @platform::boolean
    OR c.reading_group_id = @org_id
    OR (r.status <> 'draft' AND c.site_org_id = @org_id
        AND (@site_wide::boolean OR c.referring_physician_id = @user_id OR c.created_by = @user_id)));

-- name: ReportGet :one
SELECT * FROM reports WHERE id = @id;

-- name: CaseGet :one
SELECT * FROM cases WHERE id = @id;

-- name: GroupRequiresSecondRead :one
SELECT coalesce((SELECT require_second_read FROM reading_group_settings WHERE org_id = @org_id), false)::boolean;

-- name: CaseReturnForSecondRead :one
-- CaseReturnForSecondRead gives the case back to the worklist once the
-- first reader has signed a preliminary report: like a release, but only
-- by the claimant, so that another specialist claims it for the final read.
UPDATE cases SET status = 'routed', assigned_to = NULL, claimed_at = NULL, claim_expires_at = NULL, updated_at = now()
WHERE id = @id AND status = 'in_review' AND assigned_to = @specialist_id
RETURNING *;

-- name: OrgName :one
SELECT name FROM orgs WHERE id = @id;

-- name: UserName :one
SELECT name FROM users WHERE id = @id;

-- name: StudyList :many
-- StudyList returns the case's DICOM studies with their modalities and
-- counts, for the FHIR ImagingStudy references.
SELECT st.id, st.study_instance_uid, st.study_date, st.study_description, st.accession_number,
    coalesce((SELECT array_agg(DISTINCT s.modality ORDER BY s.modality) FROM dicom_series s
              WHERE s.study_id = st.id AND s.modality <> ''), '{}')::text[] AS modalities,
    (SELECT count(*) FROM dicom_series s WHERE s.study_id = st.id)::int AS series_count,
    (SELECT count(*) FROM dicom_series s JOIN dicom_instances i ON i.series_id = s.id WHERE s.study_id = st.id)::int AS instance_count
FROM dicom_studies st
WHERE st.case_id = @case_id
ORDER BY st.created_at, st.id;

-- name: KeyImages :many
-- KeyImages returns the files whose preview is ready, one image per DICOM
-- series (its middle instance) and every photo, oldest first.
WITH ready AS (
    SELECT f.id, f.kind, f.filename, f.body_site, f.preview_key, f.thumbnail_key, f.created_at,
        coalesce(s.series_description, '')::text AS series_description, coalesce(s.modality, '')::text AS modality,
        row_number() OVER (PARTITION BY coalesce(i.series_id, f.id) ORDER BY i.instance_number NULLS LAST, f.created_at, f.id) AS rn,
        count(*) OVER (PARTITION BY coalesce(i.series_id, f.id)) AS n
    FROM files f
    LEFT JOIN dicom_instances i ON i.file_id = f.id
    LEFT JOIN dicom_series s ON s.id = i.series_id
    WHERE f.case_id = @case_id AND f.preview_status = 'ready' AND (f.preview_key IS NOT NULL OR f.thumbnail_key IS NOT NULL))
SELECT id, kind, filename, body_site, preview_key, thumbnail_key, series_description, modality
FROM ready
WHERE rn = (n + 1) / 2
ORDER BY created_at, id
LIMIT @lim;
