-- Queries of the audit package.

-- name: ChainLock :exec
-- ChainLock serialises appends to one chain until the transaction ends.
SELECT pg_advisory_xact_lock(hashtextextended('audit:' || @chain::text, 0));

-- name: ChainHead :one
SELECT chain_seq, hash FROM audit_events
WHERE chain = @chain ORDER BY chain_seq DESC LIMIT 1;

-- name: EventInsert :one
INSERT INTO audit_events (chain, chain_seq, at, actor_id, actor_org_id, action, object_type,
                          object_id, object_org_id, client_ip, request_id, details, prev_hash, hash)
VALUES (@chain, @chain_seq, @at, @actor_id, @actor_org_id, @action, @object_type,
        @object_id, @object_org_id, @client_ip, @request_id, @details, @prev_hash, @hash)
RETURNING id;

-- name: ChainList :many
SELECT DISTINCT chain FROM audit_events ORDER BY chain;

-- name: ChainEvents :many
-- ChainEvents pages through one chain in order.
SELECT * FROM audit_events
WHERE chain = @chain AND chain_seq > @after_seq
ORDER BY chain_seq LIMIT @lim;

-- name: EventList :many
-- EventList is the admin search. scope limits it to events whose actor or
-- object belongs to that organisation; NULL (platform admin) sees all.
SELECT * FROM audit_events
WHERE (sqlc.narg(scope)::uuid IS NULL OR actor_org_id = sqlc.narg(scope)::uuid OR object_org_id = sqlc.narg(scope)::uuid)
  AND (sqlc.narg(actor_id)::uuid IS NULL OR actor_id = sqlc.narg(actor_id)::uuid)
  AND (sqlc.narg(object_type)::text IS NULL OR object_type = sqlc.narg(object_type)::text)
  AND (sqlc.narg(object_id)::text IS NULL OR object_id = sqlc.narg(object_id)::text)
  AND (sqlc.narg(action)::text IS NULL OR action = sqlc.narg(action)::text)
  AND (sqlc.narg(since)::timestamptz IS NULL OR at >= sqlc.narg(since)::timestamptz)
  AND (sqlc.narg(until)::timestamptz IS NULL OR at < sqlc.narg(until)::timestamptz)
  AND (sqlc.narg(before_id)::bigint IS NULL OR id < sqlc.narg(before_id)::bigint)
ORDER BY id DESC
LIMIT @lim;
