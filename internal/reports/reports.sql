-- Queries of the reports package. Who may read a report is one predicate,
-- here in SQL (see ReportGetVisible): platform admins see every report; the
-- reading group the case is routed to sees drafts and signed reports; the
-- site sees signed reports only (site staff and admins all of the site's,
-- a referring physician those of the cases they refer or created).
--
-- Every statement serving a request carries the caller's scope: the
-- reading group for a change (@reading_group_id), or cases.Scope's
-- parameters (@platform, @site_org_id, @reading_group_id) for a read. The
-- case itself is locked and read through the cases package (cases.Lock,
-- cases.Read), which also owns its status (cases.Move). A job's statements
-- say so with a "scope: worker" line.

-- name: ReportGetForUpdate :one
SELECT r.* FROM reports r
JOIN cases c ON c.id = r.case_id
WHERE r.case_id = @case_id AND c.reading_group_id = @reading_group_id
FOR UPDATE OF r;

-- name: ReportInsert :one
INSERT INTO reports (case_id, findings, impression, diagnoses, recommendations, follow_up, critical, author_id, updated_by)
VALUES (@case_id, @findings, @impression, @diagnoses, @recommendations, @follow_up, @critical, @author_id, @author_id)
RETURNING *;

-- name: ReportVersionInsert :exec
-- ReportVersionInsert keeps the content of a draft before a save replaces it.
INSERT INTO report_versions (report_id, version, findings, impression, diagnoses, recommendations, follow_up,
                             critical, saved_by, saved_at)
SELECT id, version, findings, impression, diagnoses, recommendations, follow_up, critical, updated_by, updated_at
FROM reports r
WHERE r.id = @id AND EXISTS (SELECT 1 FROM cases c WHERE c.id = r.case_id AND c.reading_group_id = @reading_group_id);

-- name: ReportUpdateDraft :one
UPDATE reports r SET findings = @findings, impression = @impression, diagnoses = @diagnoses,
    recommendations = @recommendations, follow_up = @follow_up, critical = @critical,
    version = r.version + 1, updated_by = @updated_by, updated_at = now()
FROM cases c
WHERE r.id = @id AND r.status = 'draft' AND c.id = r.case_id AND c.reading_group_id = @reading_group_id
RETURNING r.*;

-- name: ReportSetSigned :one
UPDATE reports r SET status = @status, content_sha256 = @content_sha256, updated_at = now()
FROM cases c
WHERE r.id = @id AND c.id = r.case_id AND c.reading_group_id = @reading_group_id
RETURNING r.*;

-- name: SignatureInsert :exec
INSERT INTO report_signatures (report_id, kind, signer_id, signer_name, signed_at, content_sha256, sha256)
VALUES (@report_id, @kind, @signer_id, @signer_name, @signed_at, @content_sha256, @sha256);

-- name: SignatureList :many
SELECT s.* FROM report_signatures s
JOIN reports r ON r.id = s.report_id JOIN cases c ON c.id = r.case_id
WHERE s.report_id = @report_id AND (@platform::boolean OR c.site_org_id = @site_org_id OR c.reading_group_id = sqlc.narg(reading_group_id)::uuid)
ORDER BY s.signed_at;

-- name: AddendumInsert :one
INSERT INTO report_addenda (report_id, text, signer_id, signer_name, signed_at, sha256)
VALUES (@report_id, @text, @signer_id, @signer_name, @signed_at, @sha256)
RETURNING *;

-- name: AddendumList :many
SELECT a.* FROM report_addenda a
JOIN reports r ON r.id = a.report_id JOIN cases c ON c.id = r.case_id
WHERE a.report_id = @report_id AND (@platform::boolean OR c.site_org_id = @site_org_id OR c.reading_group_id = sqlc.narg(reading_group_id)::uuid)
ORDER BY a.signed_at, a.id;

-- name: VersionList :many
SELECT v.* FROM report_versions v
JOIN reports r ON r.id = v.report_id JOIN cases c ON c.id = r.case_id
WHERE v.report_id = @report_id AND (@platform::boolean OR c.site_org_id = @site_org_id OR c.reading_group_id = sqlc.narg(reading_group_id)::uuid)
ORDER BY v.version;

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

-- scope: worker — the deliver job builds the webhook payload of the report its delivery names.
-- name: ReportGet :one
SELECT * FROM reports WHERE id = @id;

-- name: GroupRequiresSecondRead :one
SELECT coalesce((SELECT require_second_read FROM reading_group_settings WHERE org_id = @org_id), false)::boolean;

-- name: CaseParties :one
-- CaseParties names the site, the reading group and the referring
-- physician of a case in the caller's scope.
SELECT s.name AS site_name, coalesce(g.name, '')::text AS group_name, u.name AS referring_name
FROM cases c
JOIN orgs s ON s.id = c.site_org_id
LEFT JOIN orgs g ON g.id = c.reading_group_id
JOIN users u ON u.id = c.referring_physician_id
WHERE c.id = @case_id AND (@platform::boolean OR c.site_org_id = @site_org_id OR c.reading_group_id = sqlc.narg(reading_group_id)::uuid);

-- name: UserName :one
SELECT name FROM users WHERE id = @id AND org_id = @org_id;

-- name: StudyList :many
-- StudyList returns the case's DICOM studies with their modalities and
-- counts, for the FHIR ImagingStudy references.
SELECT st.id, st.study_instance_uid, st.study_date, st.study_description, st.accession_number,
    coalesce((SELECT array_agg(DISTINCT s.modality ORDER BY s.modality) FROM dicom_series s
              WHERE s.study_id = st.id AND s.modality <> ''), '{}')::text[] AS modalities,
    (SELECT count(*) FROM dicom_series s WHERE s.study_id = st.id)::int AS series_count,
    (SELECT count(*) FROM dicom_series s JOIN dicom_instances i ON i.series_id = s.id WHERE s.study_id = st.id)::int AS instance_count
FROM dicom_studies st
JOIN cases c ON c.id = st.case_id
WHERE st.case_id = @case_id AND (@platform::boolean OR c.site_org_id = @site_org_id OR c.reading_group_id = sqlc.narg(reading_group_id)::uuid)
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
    JOIN cases c ON c.id = f.case_id
    WHERE f.case_id = @case_id AND (@platform::boolean OR c.site_org_id = @site_org_id OR c.reading_group_id = sqlc.narg(reading_group_id)::uuid) AND f.preview_status = 'ready' AND (f.preview_key IS NOT NULL OR f.thumbnail_key IS NOT NULL))
SELECT id, kind, filename, body_site, preview_key, thumbnail_key, series_description, modality
FROM ready
WHERE rn = (n + 1) / 2
ORDER BY created_at, id
LIMIT @lim;
