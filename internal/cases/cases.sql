-- Queries of the cases package. Visibility of a case to a principal is the
-- same predicate everywhere (see visible in cases.go):
--   platform admins see every case;
--   site staff and site admins see their site's cases;
--   a referring physician sees the cases they refer or created;
--   a reading group sees the cases routed to it.
--
-- Every statement carries the caller's scope (internal/archtest checks it):
-- @platform, true only for platform admins, and the caller's organisation as
-- a site (@site_org_id or @org_id) or as a reading group
-- (@reading_group_id); see Scope in scope.go. A job's statements take the id
-- of the case the job names and say so with a "scope: worker" line.

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

-- name: CaseGetEditable :one
-- CaseGetEditable is CaseGetForShare without the lock: the check before an
-- upload's bytes are read, which the upload's own transaction repeats
-- under the lock.
SELECT * FROM cases c
WHERE c.id = @id AND c.site_org_id = @org_id
  AND (@site_wide::boolean OR c.referring_physician_id = @user_id OR c.created_by = @user_id);

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
WHERE id = @id AND site_org_id = @site_org_id
RETURNING *;

-- name: CaseLock :one
-- CaseLock locks a case in the caller's scope for a change. FOR NO KEY
-- UPDATE excludes other changes and uploads (FOR SHARE) but does not block
-- inserts that refer to the case (its timeline).
SELECT * FROM cases c
WHERE c.id = @id
  AND (@platform::boolean OR c.site_org_id = @site_org_id OR c.reading_group_id = sqlc.narg(reading_group_id)::uuid)
FOR NO KEY UPDATE;

-- scope: worker — a job (routing, lease expiry, delivery) locks the case its arguments name, to learn its tenant.
-- name: CaseLockWorker :one
SELECT * FROM cases WHERE id = @id FOR NO KEY UPDATE;

-- name: CaseRead :one
-- CaseRead reads a case in the caller's scope, for a package that has
-- checked the finer visibility itself.
SELECT * FROM cases c
WHERE c.id = @id
  AND (@platform::boolean OR c.site_org_id = @site_org_id OR c.reading_group_id = sqlc.narg(reading_group_id)::uuid);

-- scope: worker — a job (webhook payloads) reads the case its arguments name.
-- name: CaseReadWorker :one
SELECT * FROM cases WHERE id = @id;

-- name: CaseMove :one
-- CaseMove is the one statement that changes a case's status: from one of
-- @from_statuses (built from allowedFrom in state.go) to @to_status, in the
-- caller's scope, with the columns that transition sets. A case in review
-- is moved only by its claimant when @check_holder is set, or also when its
-- claim lapsed with @lapsed_ok. No row means the move was refused.
UPDATE cases c SET
    status           = @to_status::text,
    updated_at       = now(),
    submitted_at     = CASE WHEN @to_status::text = 'submitted' THEN now() ELSE c.submitted_at END,
    cancelled_at     = CASE WHEN @to_status::text = 'cancelled' THEN now() ELSE c.cancelled_at END,
    assigned_to      = CASE WHEN @to_status::text = 'in_review' THEN sqlc.narg(specialist_id)::uuid
                            WHEN @to_status::text IN ('routed', 'info_requested') THEN NULL
                            ELSE c.assigned_to END,
    claimed_at       = CASE WHEN @to_status::text = 'in_review' THEN now()
                            WHEN @to_status::text IN ('routed', 'info_requested') THEN NULL
                            ELSE c.claimed_at END,
    claim_expires_at = CASE WHEN @to_status::text = 'in_review' THEN now() + @lease::interval
                            WHEN @to_status::text IN ('routed', 'info_requested') THEN NULL
                            ELSE c.claim_expires_at END,
    last_specialist_id = coalesce(sqlc.narg(specialist_id)::uuid, c.last_specialist_id),
    info_request     = CASE WHEN @to_status::text = 'info_requested' THEN sqlc.narg(info_request)::text
                            ELSE c.info_request END,
    reading_group_id = CASE WHEN @route::boolean THEN sqlc.narg(route_group_id)::uuid ELSE c.reading_group_id END,
    routing_rule_id  = CASE WHEN @route::boolean THEN sqlc.narg(routing_rule_id)::uuid ELSE c.routing_rule_id END,
    due_at           = CASE WHEN @route::boolean THEN sqlc.narg(due_at)::timestamptz ELSE c.due_at END,
    routed_at        = CASE WHEN @route::boolean THEN now() ELSE c.routed_at END,
    unrouted_reason  = CASE WHEN @route::boolean THEN NULL ELSE c.unrouted_reason END
WHERE c.id = @id AND c.status = ANY(@from_statuses::text[])
  AND (@platform::boolean OR c.site_org_id = @site_org_id OR c.reading_group_id = sqlc.narg(reading_group_id)::uuid)
  AND (c.status <> 'in_review' OR NOT @check_holder::boolean OR c.assigned_to = sqlc.narg(holder)::uuid
       OR (@lapsed_ok::boolean AND c.claim_expires_at < now()))
RETURNING *;

-- name: CaseSetUnrouted :exec
-- CaseSetUnrouted says why routing left a submitted case where it is.
UPDATE cases SET unrouted_reason = @reason, updated_at = now()
WHERE id = @id AND site_org_id = @site_org_id AND status = 'submitted';

-- name: CaseRenewClaim :execrows
-- CaseRenewClaim extends the claim of the specialist who holds it.
UPDATE cases SET claim_expires_at = now() + @lease::interval
WHERE id = @id AND reading_group_id = @reading_group_id AND status = 'in_review' AND assigned_to = @specialist_id;

-- name: CaseSetComplete :exec
UPDATE cases SET complete_at = now() WHERE id = @id AND site_org_id = @site_org_id AND complete_at IS NULL;

-- name: CaseSealManifest :exec
UPDATE cases SET manifest_sealed_at = now(), complete_at = NULL, updated_at = now()
WHERE id = @id AND site_org_id = @site_org_id;

-- name: EventInsert :one
INSERT INTO case_events (case_id, actor_id, kind, from_status, to_status, details)
VALUES (@case_id, @actor_id, @kind, @from_status, @to_status, @details)
RETURNING *;

-- name: EventList :many
SELECT e.* FROM case_events e
JOIN cases c ON c.id = e.case_id
WHERE e.case_id = @case_id
  AND (@platform::boolean OR c.site_org_id = @site_org_id OR c.reading_group_id = sqlc.narg(reading_group_id)::uuid)
ORDER BY e.id;

-- name: ManifestDelete :exec
DELETE FROM case_manifest_entries m
USING cases c
WHERE m.case_id = @case_id AND c.id = m.case_id AND c.site_org_id = @site_org_id;

-- name: ManifestInsert :exec
INSERT INTO case_manifest_entries (case_id, sha256, name, size) VALUES (@case_id, @sha256, @name, @size);

-- name: ManifestList :many
SELECT m.sha256, m.name, m.size, f.id AS file_id
FROM case_manifest_entries m
JOIN cases c ON c.id = m.case_id
LEFT JOIN files f ON f.case_id = m.case_id AND f.sha256 = m.sha256
WHERE m.case_id = @case_id
  AND (@platform::boolean OR c.site_org_id = @site_org_id OR c.reading_group_id = sqlc.narg(reading_group_id)::uuid)
ORDER BY m.name, m.sha256;

-- name: FileCount :one
SELECT count(*)::int FROM files WHERE case_id = @case_id AND org_id = @site_org_id;

-- name: UserInOrgWithRole :one
SELECT EXISTS (
    SELECT 1 FROM users
    WHERE id = @id AND org_id = @org_id AND @role::text = ANY(roles) AND disabled_at IS NULL)::boolean;

-- name: CaseHasSignedReport :one
SELECT EXISTS (
    SELECT 1 FROM reports r JOIN cases c ON c.id = r.case_id
    WHERE r.case_id = @case_id AND c.site_org_id = @site_org_id AND r.status <> 'draft')::boolean;

-- name: CaseCompleteness :one
SELECT (manifest_sealed_at IS NOT NULL)::boolean AS sealed, (complete_at IS NOT NULL)::boolean AS complete
FROM cases WHERE id = @id AND site_org_id = @site_org_id;

-- name: CasePriorsOfPatient :many
-- CasePriorsOfPatient lists the other cases of a case's patient (the same
-- site and MRN) that the caller may see, newest first: the specialist's
-- case view shows them as the patient's history.
SELECT p.* FROM cases c
JOIN cases p ON p.site_org_id = c.site_org_id AND p.patient_mrn = c.patient_mrn AND p.id <> c.id
WHERE c.id = @id AND c.patient_mrn <> '' AND (
    @platform::boolean
    OR (c.site_org_id = @org_id AND (@site_wide::boolean OR c.referring_physician_id = @user_id OR c.created_by = @user_id))
    OR c.reading_group_id = @org_id)
  AND (
    @platform::boolean
    OR (p.site_org_id = @org_id AND (@site_wide::boolean OR p.referring_physician_id = @user_id OR p.created_by = @user_id))
    OR p.reading_group_id = @org_id)
ORDER BY p.created_at DESC, p.id DESC
LIMIT 50;
