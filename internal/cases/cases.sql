-- Queries of the cases package. Visibility of a case to a principal is the
-- same predicate everywhere (see visible in cases.go):
--   platform admins see every case;
--   site staff and site admins see their site's cases;
--   a referring physician sees the cases they refer or created;
--   a reading group sees the cases routed to it.

-- name: CaseInsert :one
INSERT INTO cases (site_org_id, created_by, referring_physician_id, specialty, priority, patient_name,
                   patient_birth_date, patient_sex, patient_mrn, clinical_question, history,
                   lesion_body_site, lesion_duration)
VALUES (@site_org_id, @created_by, @referring_physician_id, @specialty, @priority, @patient_name,
        @patient_birth_date, @patient_sex, @patient_mrn, @clinical_question, @history,
        @lesion_body_site, @lesion_duration)
RETURNING *;

-- name: CaseGet :one
SELECT * FROM cases c
WHERE c.id = @id AND (
    @platform::boolean
    OR (c.site_org_id = @org_id AND (@site_wide::boolean OR c.referring_physician_id = @user_id OR c.created_by = @user_id))
    OR c.reading_group_id = @org_id);

-- name: CaseGetForUpdate :one
-- CaseGetForUpdate locks a case of the caller's site for a change.
SELECT * FROM cases c
WHERE c.id = @id AND c.site_org_id = @org_id
  AND (@site_wide::boolean OR c.referring_physician_id = @user_id OR c.created_by = @user_id)
FOR UPDATE;

-- name: CaseGetForShare :one
-- CaseGetForShare locks a case of the caller's site against status changes
-- while files are added, without blocking other uploads to it.
SELECT * FROM cases c
WHERE c.id = @id AND c.site_org_id = @org_id
  AND (@site_wide::boolean OR c.referring_physician_id = @user_id OR c.created_by = @user_id)
FOR SHARE;

-- name: CaseList :many
SELECT * FROM cases c
WHERE (
    @platform::boolean
    OR (c.site_org_id = @org_id AND (@site_wide::boolean OR c.referring_physician_id = @user_id OR c.created_by = @user_id))
    OR c.reading_group_id = @org_id)
  AND (sqlc.narg(status)::text IS NULL OR c.status = sqlc.narg(status)::text)
  AND (sqlc.narg(specialty)::text IS NULL OR c.specialty = sqlc.narg(specialty)::text)
  AND (sqlc.narg(before_created)::timestamptz IS NULL
       OR (c.created_at, c.id) < (sqlc.narg(before_created)::timestamptz, sqlc.narg(before_id)::uuid))
ORDER BY c.created_at DESC, c.id DESC
LIMIT @lim;

-- name: CaseUpdateDraft :one
UPDATE cases SET
    priority          = coalesce(sqlc.narg(priority), priority),
    clinical_question = coalesce(sqlc.narg(clinical_question), clinical_question),
    history           = coalesce(sqlc.narg(history), history),
    lesion_body_site  = coalesce(sqlc.narg(lesion_body_site), lesion_body_site),
    lesion_duration   = coalesce(sqlc.narg(lesion_duration), lesion_duration),
    updated_at        = now()
WHERE id = @id
RETURNING *;

-- name: CaseSetStatus :one
-- CaseSetStatus moves a case from one of the expected states to another;
-- no row means the case was not in an expected state.
UPDATE cases SET status = @to_status, updated_at = now(),
    submitted_at = CASE WHEN @to_status = 'submitted' THEN now() ELSE submitted_at END,
    cancelled_at = CASE WHEN @to_status = 'cancelled' THEN now() ELSE cancelled_at END
WHERE id = @id AND status = ANY(@from_statuses::text[])
RETURNING *;

-- name: CaseSetComplete :exec
UPDATE cases SET complete_at = now() WHERE id = @id AND complete_at IS NULL;

-- name: CaseSealManifest :exec
UPDATE cases SET manifest_sealed_at = now(), complete_at = NULL, updated_at = now() WHERE id = @id;

-- name: EventInsert :one
INSERT INTO case_events (case_id, actor_id, kind, from_status, to_status, details)
VALUES (@case_id, @actor_id, @kind, @from_status, @to_status, @details)
RETURNING *;

-- name: EventList :many
SELECT * FROM case_events WHERE case_id = @case_id ORDER BY id;

-- name: ManifestDelete :exec
DELETE FROM case_manifest_entries WHERE case_id = @case_id;

-- name: ManifestInsert :exec
INSERT INTO case_manifest_entries (case_id, sha256, name, size) VALUES (@case_id, @sha256, @name, @size);

-- name: ManifestList :many
SELECT m.sha256, m.name, m.size, f.id AS file_id
FROM case_manifest_entries m
LEFT JOIN files f ON f.case_id = m.case_id AND f.sha256 = m.sha256
WHERE m.case_id = @case_id
ORDER BY m.name, m.sha256;

-- name: FileCount :one
SELECT count(*)::int FROM files WHERE case_id = @case_id;

-- name: UserInOrgWithRole :one
SELECT EXISTS (
    SELECT 1 FROM users
    WHERE id = @id AND org_id = @org_id AND @role::text = ANY(roles) AND disabled_at IS NULL)::boolean;

-- name: CaseGetByID :one
SELECT * FROM cases WHERE id = @id;

-- name: CaseHasSignedReport :one
SELECT EXISTS (SELECT 1 FROM reports WHERE case_id = @case_id AND status <> 'draft')::boolean;

-- name: CaseCompleteness :one
SELECT (manifest_sealed_at IS NOT NULL)::boolean AS sealed, (complete_at IS NOT NULL)::boolean AS complete FROM cases WHERE id = @id;
