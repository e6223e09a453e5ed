-- Queries of the audit package. A chain is one organisation's (the acting
-- principal's) or the platform's; the queries that walk or fold every chain
-- run in `teleread audit verify` and the fold, not for a request, and say
-- so with a "scope: worker" line (internal/archtest checks it). The
-- listings take the caller's organisation (@org_id) and @platform, true
-- only for platform admins.

-- name: ChainLock :exec
-- ChainLock serialises appends to one chain until the transaction ends.
SELECT pg_advisory_xact_lock(hashtextextended('audit:' || @chain::text, 0));

-- name: ChainTryLock :one
-- ChainTryLock is ChainLock without waiting: false when another transaction
-- holds the chain.
SELECT pg_try_advisory_xact_lock(hashtextextended('audit:' || @chain::text, 0));

-- name: ChainHead :one
-- ChainHead is the newest event of the chain of organisation org_id (NULL:
-- the platform's chain, of events whose actor has no organisation).
SELECT chain_seq, hash FROM audit_events
WHERE chain = coalesce(sqlc.narg(org_id)::uuid::text, 'platform')
ORDER BY chain_seq DESC LIMIT 1;

-- name: EventInsert :one
INSERT INTO audit_events (chain, chain_seq, at, actor_id, actor_org_id, action, object_type,
                          object_id, object_org_id, client_ip, request_id, details, prev_hash, hash)
VALUES (@chain, @chain_seq, @at, @actor_id, @actor_org_id, @action, @object_type,
        @object_id, @object_org_id, @client_ip, @request_id, @details, @prev_hash, @hash)
RETURNING id;

-- name: EventInsertMany :exec
-- EventInsertMany appends several rows to a chain in one statement (the
-- files of one upload request), each array holding one column of the rows
-- in turn; '' is a NULL id.
INSERT INTO audit_events (chain, chain_seq, at, actor_id, actor_org_id, action, object_type,
                          object_id, object_org_id, client_ip, request_id, details, prev_hash, hash)
SELECT unnest(@chains::text[]), unnest(@chain_seqs::bigint[]), unnest(@ats::timestamptz[]),
       NULLIF(unnest(@actor_ids::text[]), '')::uuid, NULLIF(unnest(@actor_org_ids::text[]), '')::uuid,
       unnest(@actions::text[]), unnest(@object_types::text[]), unnest(@object_ids::text[]),
       NULLIF(unnest(@object_org_ids::text[]), '')::uuid, unnest(@client_ips::text[]), unnest(@request_ids::text[]),
       unnest(@details::text[])::jsonb, unnest(@prev_hashes::bytea[]), unnest(@hashes::bytea[]);

-- scope: worker — `teleread audit verify` walks every organisation's chain; no request reaches it.
-- name: ChainList :many
SELECT DISTINCT chain FROM audit_events ORDER BY chain;

-- scope: worker — `teleread audit verify` pages through each chain ChainList named; no request reaches it.
-- name: ChainEvents :many
-- ChainEvents pages through one chain in order.
SELECT * FROM audit_events
WHERE chain = @chain AND chain_seq > @after_seq
ORDER BY chain_seq LIMIT @lim;

-- name: EventList :many
-- EventList is the admin search: a platform admin sees every event, anyone
-- else those whose actor or object belongs to their organisation.
SELECT * FROM audit_events
WHERE (@platform::boolean OR actor_org_id = @org_id::uuid OR object_org_id = @org_id::uuid)
  AND (sqlc.narg(actor_id)::uuid IS NULL OR actor_id = sqlc.narg(actor_id)::uuid)
  AND (sqlc.narg(object_type)::text IS NULL OR object_type = sqlc.narg(object_type)::text)
  AND (sqlc.narg(object_id)::text IS NULL OR object_id = sqlc.narg(object_id)::text)
  AND (sqlc.narg(action)::text IS NULL OR action = sqlc.narg(action)::text)
  AND (sqlc.narg(since)::timestamptz IS NULL OR at >= sqlc.narg(since)::timestamptz)
  AND (sqlc.narg(until)::timestamptz IS NULL OR at < sqlc.narg(until)::timestamptz)
  AND (sqlc.narg(before_id)::bigint IS NULL OR id < sqlc.narg(before_id)::bigint)
ORDER BY id DESC
LIMIT @lim;

-- name: ReadInsert :exec
-- ReadInsert records one read, to be folded into its chain later; it takes
-- no lock, so readers run in parallel.
INSERT INTO audit_reads (chain, window_start, at, actor_id, actor_org_id, action, object_type,
                         object_id, object_org_id, client_ip, request_id, details)
VALUES (@chain, @window_start, @at, @actor_id, @actor_org_id, @action, @object_type,
        @object_id, @object_org_id, @client_ip, @request_id, @details);

-- name: ReadInsertMany :exec
-- ReadInsertMany records several reads in one statement (a search's page
-- of cases), each array holding one column of the rows in turn; '' is a
-- NULL id.
INSERT INTO audit_reads (chain, window_start, at, actor_id, actor_org_id, action, object_type,
                         object_id, object_org_id, client_ip, request_id, details)
SELECT unnest(@chains::text[]), unnest(@window_starts::timestamptz[]), unnest(@ats::timestamptz[]),
       NULLIF(unnest(@actor_ids::text[]), '')::uuid, NULLIF(unnest(@actor_org_ids::text[]), '')::uuid,
       unnest(@actions::text[]), unnest(@object_types::text[]), unnest(@object_ids::text[]),
       NULLIF(unnest(@object_org_ids::text[]), '')::uuid, unnest(@client_ips::text[]), unnest(@request_ids::text[]),
       unnest(@details::text[])::jsonb;

-- scope: worker — the fold finds every organisation's closed read windows; a job (or a reader that won the chain's lock) runs it, never for a request's id.
-- name: ReadChains :many
SELECT DISTINCT chain FROM audit_reads WHERE window_start < @before ORDER BY chain;

-- scope: worker — the fold takes one chain's closed windows under that chain's lock, the chain ReadChains named or the reader's own organisation.
-- name: ReadTake :many
-- ReadTake removes the closed windows of a chain for the fold, which chains
-- them in the same transaction.
DELETE FROM audit_reads WHERE chain = @chain AND window_start < @before
RETURNING *;

-- scope: worker — `teleread audit verify` counts every organisation's reads not yet folded; no request reaches it.
-- name: ReadPendingCount :one
SELECT count(*) FROM audit_reads;

-- name: ReadPendingList :many
-- ReadPendingList is the admin search over reads not yet folded, one row per
-- entry the fold will make (window, actor, client address, action, object),
-- newest first, with the distinct details of its reads.
SELECT window_start, actor_id, actor_org_id, client_ip, action, object_type, object_id, object_org_id,
       count(*)::bigint AS reads, min(at)::timestamptz AS first_at, max(at)::timestamptz AS last_at,
       (array_agg(request_id ORDER BY id))[1]::text AS first_request_id,
       (array_agg(request_id ORDER BY id DESC))[1]::text AS last_request_id,
       jsonb_agg(DISTINCT details) AS details_set
FROM audit_reads
WHERE (@platform::boolean OR actor_org_id = @org_id::uuid OR object_org_id = @org_id::uuid)
  AND (sqlc.narg(actor_id)::uuid IS NULL OR actor_id = sqlc.narg(actor_id)::uuid)
  AND (sqlc.narg(object_type)::text IS NULL OR object_type = sqlc.narg(object_type)::text)
  AND (sqlc.narg(object_id)::text IS NULL OR object_id = sqlc.narg(object_id)::text)
  AND (sqlc.narg(action)::text IS NULL OR action = sqlc.narg(action)::text)
  AND (sqlc.narg(since)::timestamptz IS NULL OR at >= sqlc.narg(since)::timestamptz)
  AND (sqlc.narg(until)::timestamptz IS NULL OR at < sqlc.narg(until)::timestamptz)
GROUP BY window_start, actor_id, actor_org_id, client_ip, action, object_type, object_id, object_org_id
ORDER BY max(id) DESC
LIMIT @lim;
