-- Queries of the delivery package: webhooks, deliveries and their attempts,
-- the inbox, acknowledgements, escalations and statistics. A statement that
-- serves a request takes the caller's organisation (@org_id) and @platform,
-- true only for platform admins; the jobs' statements take ids of rows the
-- job owns and say so with a "scope: worker" line (internal/archtest checks
-- both).

-- name: WebhookInsert :one
INSERT INTO webhooks (org_id, url, description, secret, created_by)
VALUES (@org_id, @url, @description, @secret, @created_by)
RETURNING *;

-- name: WebhookList :many
-- WebhookList returns the webhooks visible to the caller: the own
-- organisation's, or every one for platform admins; filter_org_id narrows
-- to one organisation.
SELECT * FROM webhooks
WHERE (@platform::boolean OR org_id = @org_id)
  AND org_id = coalesce(sqlc.narg(filter_org_id)::uuid, org_id)
ORDER BY created_at, id;

-- name: WebhookDisable :one
UPDATE webhooks SET disabled_at = coalesce(disabled_at, now()), disabled_by = coalesce(disabled_by, @disabled_by)
WHERE id = @id AND (@platform::boolean OR org_id = @org_id)
RETURNING *;

-- name: WebhooksEnabled :many
-- WebhooksEnabled lists a site's live webhooks; org_id is the signed
-- report's site.
SELECT * FROM webhooks WHERE org_id = @org_id AND disabled_at IS NULL ORDER BY created_at, id;

-- name: OrgKind :one
SELECT kind FROM orgs WHERE id = @id AND (@platform::boolean OR id = @org_id);

-- name: DeliveryInsert :one
-- DeliveryInsert records a delivery; no row means it was already recorded.
INSERT INTO deliveries (report_id, case_id, site_org_id, event, addendum_id, critical, channel, webhook_id)
VALUES (@report_id, @case_id, @site_org_id, @event, sqlc.narg(addendum_id), @critical, @channel, sqlc.narg(webhook_id))
ON CONFLICT DO NOTHING
RETURNING id;

-- scope: worker — the deliver job loads the delivery its arguments name.
-- name: DeliveryGet :one
SELECT d.*, w.url AS webhook_url, w.secret AS webhook_secret, w.disabled_at AS webhook_disabled_at
FROM deliveries d
LEFT JOIN webhooks w ON w.id = d.webhook_id
WHERE d.id = @id;

-- scope: worker — the deliver job rewrites the secret of the webhook it posts to under the current key.
-- name: WebhookSecretUpdate :execrows
-- WebhookSecretUpdate replaces a webhook's stored secret if it is still
-- the one read (so that two deliveries upgrading it at once agree).
UPDATE webhooks SET secret = @secret WHERE id = @id AND secret = @old_secret;

-- scope: worker — the deliver job locks the delivery its arguments name.
-- name: DeliveryLock :one
SELECT * FROM deliveries WHERE id = @id FOR UPDATE;

-- name: DeliveryLockVisible :one
-- DeliveryLockVisible locks a delivery of the caller's site (any site's for
-- platform admins).
SELECT * FROM deliveries
WHERE id = @id AND (@platform::boolean OR site_org_id = @org_id)
FOR UPDATE;

-- scope: worker — the deliver job records an attempt at the delivery it runs.
-- name: DeliveryAttempt :one
-- DeliveryAttempt records one attempt and returns the delivery's count.
WITH a AS (
    INSERT INTO delivery_attempts (delivery_id, duration_ms, status_code, error)
    VALUES (@id, @duration_ms, sqlc.narg(status_code), @error)
)
UPDATE deliveries SET attempts = attempts + 1, last_error = @error
WHERE deliveries.id = @id
RETURNING attempts;

-- scope: worker — the deliver job completes the delivery it runs.
-- name: DeliverySetDelivered :one
UPDATE deliveries SET status = 'delivered', delivered_at = now(), dead_at = NULL
WHERE id = @id AND status <> 'delivered'
RETURNING *;

-- scope: worker — the deliver job dead-letters the delivery it runs.
-- name: DeliverySetDead :exec
UPDATE deliveries SET status = 'dead', dead_at = now() WHERE id = @id AND status = 'queued';

-- name: DeliveryRequeue :one
UPDATE deliveries SET status = 'queued', dead_at = NULL, replays = replays + 1
WHERE id = @id AND status = 'dead' AND (@platform::boolean OR site_org_id = @org_id)
RETURNING *;

-- name: DeliveriesOfReport :many
SELECT d.*, w.url AS webhook_url
FROM deliveries d
LEFT JOIN webhooks w ON w.id = d.webhook_id
WHERE d.report_id = @report_id
  AND (@platform::boolean OR d.site_org_id = @org_id)
ORDER BY d.created_at, d.channel, d.id;

-- name: AttemptsOfReport :many
SELECT a.* FROM delivery_attempts a
JOIN deliveries d ON d.id = a.delivery_id
WHERE d.report_id = @report_id
  AND (@platform::boolean OR d.site_org_id = @org_id)
ORDER BY a.id;

-- name: DeliveriesDead :many
SELECT d.*, w.url AS webhook_url
FROM deliveries d
LEFT JOIN webhooks w ON w.id = d.webhook_id
WHERE d.status = 'dead'
  AND (@platform::boolean OR d.site_org_id = @org_id)
  AND d.site_org_id = coalesce(sqlc.narg(filter_org_id)::uuid, d.site_org_id)
ORDER BY d.dead_at DESC, d.id
LIMIT @lim;

-- name: WebhookGet :one
SELECT * FROM webhooks
WHERE id = @id AND (@platform::boolean OR org_id = @org_id);

-- name: DeliveriesOfWebhook :many
-- DeliveriesOfWebhook lists a webhook's deliveries, newest first, with the
-- answer of the latest attempt. state narrows to one state as State names
-- them (pending and failed are queued deliveries without and with an
-- error); before_created_at and before_id are the keyset of the page's
-- last row.
SELECT d.*, la.status_code AS last_status_code, la.at AS last_attempt_at
FROM deliveries d
LEFT JOIN delivery_attempts la ON la.id = (SELECT max(a.id) FROM delivery_attempts a WHERE a.delivery_id = d.id)
WHERE d.webhook_id = @webhook_id
  AND (@platform::boolean OR d.site_org_id = @org_id)
  AND (sqlc.narg(state)::text IS NULL
       OR sqlc.narg(state)::text = CASE WHEN d.status <> 'queued' THEN d.status
                                        WHEN d.last_error = '' THEN 'pending'
                                        ELSE 'failed' END)
  AND (sqlc.narg(before_created_at)::timestamptz IS NULL
       OR (d.created_at, d.id) < (sqlc.narg(before_created_at)::timestamptz, sqlc.narg(before_id)::uuid))
ORDER BY d.created_at DESC, d.id DESC
LIMIT @lim;

-- scope: worker — the deliver job reads the state of the report it delivers.
-- name: ReportStatus :one
SELECT status FROM reports WHERE id = @id;

-- scope: worker — the deliver job files the report of the delivery it runs.
-- name: InboxUpsert :one
-- InboxUpsert makes a report visible in the inbox, or updates its item. A
-- new state (preliminary to final) restarts the acknowledgement clock; an
-- addendum only makes the item unread again.
INSERT INTO inbox_items AS i (report_id, case_id, site_org_id, referring_physician_id, status, critical, last_event)
VALUES (@report_id, @case_id, @site_org_id, @referring_physician_id, @status, @critical, @last_event)
ON CONFLICT (report_id) DO UPDATE SET
    -- A preliminary delivered after the final (jobs run in any order)
    -- changes nothing but the time.
    delivered_at = CASE WHEN i.status = 'preliminary' AND excluded.status = 'final' THEN now() ELSE i.delivered_at END,
    status = CASE WHEN i.status = 'final' THEN 'final' ELSE excluded.status END,
    critical = CASE WHEN i.status = 'final' AND excluded.status = 'preliminary' THEN i.critical
                    WHEN excluded.last_event = 'report.addendum' THEN i.critical OR excluded.critical
                    ELSE excluded.critical END,
    last_event = CASE WHEN i.status = 'final' AND excluded.status = 'preliminary' THEN i.last_event ELSE excluded.last_event END,
    updated_at = CASE WHEN i.status = 'final' AND excluded.status = 'preliminary' THEN i.updated_at ELSE now() END
RETURNING *;

-- name: InboxGet :one
SELECT * FROM inbox_items
WHERE report_id = @report_id AND (@platform::boolean OR site_org_id = @org_id);

-- name: InboxLock :one
SELECT * FROM inbox_items
WHERE report_id = @report_id AND site_org_id = @org_id
FOR UPDATE;

-- name: InboxMarkOpened :one
-- InboxMarkOpened records a view by the referring physician; opened tells
-- whether it was the first.
UPDATE inbox_items SET opened_at = coalesce(opened_at, now()), last_opened_at = now()
WHERE report_id = @report_id AND site_org_id = @org_id AND referring_physician_id = @user_id
RETURNING (opened_at = last_opened_at)::boolean AS first, case_id, site_org_id;

-- scope: worker — the escalate job reminds the item it escalated.
-- name: InboxSetReminded :exec
UPDATE inbox_items SET reminded_at = now() WHERE report_id = @report_id;

-- name: InboxList :many
-- InboxList is a site's inbox: a referring physician's own referrals, or the
-- whole site for staff and admins. Unread first, critical first, newest
-- first.
SELECT i.report_id, i.case_id, i.status, i.critical, i.last_event, i.first_delivered_at, i.delivered_at,
       i.updated_at, i.opened_at, i.reminded_at, c.patient_name, c.priority, c.specialty,
       a.at AS acknowledged_at, a.user_id AS acknowledged_by,
       (i.last_opened_at IS NULL OR i.last_opened_at < greatest(i.updated_at, i.reminded_at))::boolean AS unread
FROM inbox_items i
JOIN cases c ON c.id = i.case_id
LEFT JOIN acknowledgements a ON a.report_id = i.report_id AND a.report_status = i.status
WHERE i.site_org_id = @org_id
  AND (@site_wide::boolean OR i.referring_physician_id = @user_id)
  AND (NOT @unread_only::boolean
       OR i.last_opened_at IS NULL OR i.last_opened_at < greatest(i.updated_at, i.reminded_at))
ORDER BY unread DESC, i.critical DESC, i.updated_at DESC, i.report_id
LIMIT @lim;

-- name: AckInsert :one
-- AckInsert records an acknowledgement; no row means it was already made.
INSERT INTO acknowledgements (report_id, report_status, case_id, user_id)
VALUES (@report_id, @report_status, @case_id, @user_id)
ON CONFLICT DO NOTHING
RETURNING *;

-- name: AckGet :one
SELECT a.* FROM acknowledgements a
JOIN inbox_items i ON i.report_id = a.report_id
WHERE a.report_id = @report_id AND a.report_status = @report_status
  AND (@platform::boolean OR i.site_org_id = @org_id);

-- scope: worker — the escalate job looks at every tenant's critical results.
-- name: CriticalUnacknowledged :many
-- CriticalUnacknowledged lists critical inbox items whose current state is
-- not acknowledged and whose first acknowledgement window has passed, with
-- the window of the reading group that read them.
SELECT i.report_id, i.case_id, i.site_org_id, i.referring_physician_id, i.status, i.delivered_at,
       c.reading_group_id,
       coalesce(s.critical_ack_within, interval '1 hour')::interval AS ack_within,
       (CASE WHEN i.delivered_at + 2 * coalesce(s.critical_ack_within, interval '1 hour') <= now() THEN 2 ELSE 1 END)::int AS due_level
FROM inbox_items i
JOIN cases c ON c.id = i.case_id
LEFT JOIN reading_group_settings s ON s.org_id = c.reading_group_id
WHERE i.critical
  AND NOT EXISTS (SELECT 1 FROM acknowledgements a WHERE a.report_id = i.report_id AND a.report_status = i.status)
  AND i.delivered_at + coalesce(s.critical_ack_within, interval '1 hour') <= now()
  AND NOT EXISTS (SELECT 1 FROM escalations e WHERE e.kind = 'critical_unacknowledged'
                  AND e.report_id = i.report_id AND e.report_status = i.status AND e.level >= 2)
ORDER BY i.delivered_at
LIMIT 500;

-- scope: worker — the escalate job looks at every tenant's worklist.
-- name: OverdueCandidates :many
-- OverdueCandidates locks worklist cases due within the lead time, or past
-- due, that are not flagged yet.
SELECT id, status, reading_group_id, due_at FROM cases
WHERE status IN ('routed', 'in_review') AND overdue_flagged_at IS NULL
  AND reading_group_id IS NOT NULL AND due_at IS NOT NULL AND due_at <= now() + @lead::interval
ORDER BY due_at
LIMIT 500
FOR UPDATE SKIP LOCKED;

-- scope: worker — the escalate job flags the case OverdueCandidates locked.
-- name: CaseFlagOverdue :execrows
UPDATE cases SET overdue_flagged_at = now() WHERE id = @id AND overdue_flagged_at IS NULL;

-- name: EscalationInsert :one
-- EscalationInsert records an escalation; no row means that level of that
-- subject was escalated before.
INSERT INTO escalations (kind, case_id, report_id, report_status, level, target_org_id, target_role, target_user_id, details)
VALUES (@kind, @case_id, sqlc.narg(report_id), sqlc.narg(report_status), @level, @target_org_id, @target_role,
        sqlc.narg(target_user_id), @details)
ON CONFLICT DO NOTHING
RETURNING *;

-- name: EscalationList :many
-- EscalationList returns the escalations of the cases of an organisation
-- (the site that sent them or the reading group that reads them), or every
-- one for platform admins.
SELECT e.* FROM escalations e
JOIN cases c ON c.id = e.case_id
WHERE (@platform::boolean OR c.site_org_id = @org_id OR c.reading_group_id = @org_id OR e.target_org_id = @org_id)
  AND (sqlc.narg(kind)::text IS NULL OR e.kind = sqlc.narg(kind)::text)
ORDER BY e.created_at DESC, e.id
LIMIT @lim;

-- name: StatusCounts :many
SELECT c.status, count(*)::bigint AS n FROM cases c
WHERE (@platform::boolean OR c.site_org_id = @org_id OR c.reading_group_id = @org_id)
  AND c.created_at >= @since
GROUP BY c.status
ORDER BY c.status;
