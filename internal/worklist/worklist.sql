-- Queries of the worklist package: routing rules, service levels, routing,
-- the worklist itself, and claims. Case status changes and case locks are
-- the cases package's (cases.Move, cases.Lock). A statement serving a request
-- takes the caller's scope (@reading_group_id, or @platform, true only for
-- platform admins, who manage routing rules); the routing job's and the
-- lease expiry's statements say so with a "scope: worker" line.

-- name: RuleInsert :one
INSERT INTO routing_rules (position, name, specialty, modality, body_site, site_org_id, reading_group_id, is_default, enabled)
VALUES (@position, @name, @specialty, sqlc.narg(modality), sqlc.narg(body_site), sqlc.narg(site_org_id),
        @reading_group_id, @is_default, @enabled)
RETURNING *;

-- name: RuleList :many
SELECT * FROM routing_rules WHERE @platform::boolean ORDER BY specialty, is_default, position, created_at;

-- name: RuleGet :one
SELECT * FROM routing_rules WHERE id = @id AND @platform::boolean;

-- name: RuleUpdate :one
UPDATE routing_rules SET
    position = coalesce(sqlc.narg(position), position),
    name = coalesce(sqlc.narg(name), name),
    enabled = coalesce(sqlc.narg(enabled), enabled),
    reading_group_id = coalesce(sqlc.narg(reading_group_id), reading_group_id),
    updated_at = now()
WHERE id = @id AND @platform::boolean
RETURNING *;

-- name: RuleDelete :execrows
DELETE FROM routing_rules WHERE id = @id AND @platform::boolean;

-- scope: worker — the routing job reads the platform's rules for the case it routes.
-- name: RulesForSpecialty :many
-- RulesForSpecialty returns the enabled rules in the order they are tried:
-- specific rules by position, then the default.
SELECT * FROM routing_rules
WHERE specialty = @specialty AND enabled
ORDER BY is_default, position, created_at;

-- name: SettingsGet :one
SELECT * FROM reading_group_settings WHERE org_id = @org_id;

-- name: SettingsUpsert :one
INSERT INTO reading_group_settings (org_id, sla_stat, sla_urgent, sla_routine, claim_lease, require_second_read, critical_ack_within)
VALUES (@org_id, @sla_stat, @sla_urgent, @sla_routine, @claim_lease, @require_second_read, @critical_ack_within)
ON CONFLICT (org_id) DO UPDATE SET
    sla_stat = excluded.sla_stat, sla_urgent = excluded.sla_urgent, sla_routine = excluded.sla_routine,
    claim_lease = excluded.claim_lease, require_second_read = excluded.require_second_read,
    critical_ack_within = excluded.critical_ack_within, updated_at = now()
RETURNING *;

-- scope: worker — the routing job reads the series of the case it routes.
-- name: CaseModalities :many
SELECT DISTINCT s.modality FROM dicom_series s
JOIN dicom_studies st ON st.id = s.study_id
WHERE st.case_id = @case_id AND s.modality <> '';

-- scope: worker — the routing job reads the series of the case it routes.
-- name: CaseBodyParts :many
SELECT DISTINCT lower(s.body_part)::text FROM dicom_series s
JOIN dicom_studies st ON st.id = s.study_id
WHERE st.case_id = @case_id AND s.body_part <> '';

-- name: UnroutedList :many
SELECT * FROM cases
WHERE @platform::boolean AND status = 'submitted' AND unrouted_reason IS NOT NULL
ORDER BY submitted_at, id;

-- name: WorklistCounts :many
SELECT priority, count(*)::int AS n, count(*) FILTER (WHERE due_at < now())::int AS overdue
FROM cases
WHERE reading_group_id = @reading_group_id AND status IN ('routed', 'in_review')
GROUP BY priority;

-- scope: worker — the lease expiry job finds lapsed claims of every reading group.
-- name: ExpiredLeases :many
SELECT id FROM cases WHERE status = 'in_review' AND claim_expires_at < now() ORDER BY claim_expires_at LIMIT 500;

-- name: SpecialistInGroup :one
SELECT EXISTS (SELECT 1 FROM users WHERE id = @id AND org_id = @org_id AND 'specialist' = ANY(roles)
    AND disabled_at IS NULL)::boolean;

-- name: OrgKind :one
SELECT kind, specialties FROM orgs WHERE id = @id AND (@platform::boolean OR id = @org_id);
