-- Queries of the identity package. Every query over tenant data takes the
-- caller's organisation (@org_id) and @platform, true only for platform
-- admins; a query run before there is a caller (sign-in, seed) says why
-- with a "scope: worker" line (internal/archtest checks both).

-- name: OrgInsert :one
INSERT INTO orgs (kind, name, slug, specialties)
VALUES (@kind, @name, @slug, @specialties)
RETURNING *;

-- name: OrgGet :one
-- OrgGet returns the organisation for a platform admin, or when it is the
-- caller's own.
SELECT * FROM orgs
WHERE id = @id AND (@platform::boolean OR id = @org_id);

-- name: OrgList :many
SELECT * FROM orgs
WHERE (@platform::boolean OR id = @org_id)
  AND (sqlc.narg(kind)::text IS NULL OR kind = sqlc.narg(kind)::text)
ORDER BY name, id;

-- scope: worker — the seed and bootstrap commands find organisations by slug; no request reaches it.
-- name: OrgGetBySlug :one
SELECT * FROM orgs WHERE slug = @slug;

-- name: UserInsert :one
INSERT INTO users (org_id, email, name, roles, specialties, password_hash)
VALUES (@org_id, @email, @name, @roles, @specialties, @password_hash)
RETURNING *;

-- name: UserGet :one
SELECT * FROM users
WHERE id = @id AND (@platform::boolean OR org_id = @org_id);

-- scope: worker — sign-in finds the user by e-mail before there is a caller; the seed too.
-- name: UserGetByEmail :one
SELECT * FROM users WHERE lower(email) = lower(@email);

-- name: UserList :many
SELECT * FROM users
WHERE (@platform::boolean OR org_id = @org_id)
  AND org_id = coalesce(sqlc.narg(filter_org_id)::uuid, org_id)
ORDER BY email, id;

-- name: UserUpdate :one
UPDATE users SET
    name        = coalesce(sqlc.narg(name), name),
    roles       = coalesce(sqlc.narg(roles), roles),
    specialties = coalesce(sqlc.narg(specialties), specialties),
    disabled_at = CASE WHEN sqlc.narg(disabled)::boolean IS NULL THEN disabled_at
                       WHEN sqlc.narg(disabled)::boolean THEN coalesce(disabled_at, now())
                       ELSE NULL END,
    updated_at  = now()
WHERE id = @id AND (@platform::boolean OR org_id = @org_id)
RETURNING *;

-- scope: worker — the demo seed resets its users' passwords; no request reaches it.
-- name: UserSetPassword :exec
UPDATE users SET password_hash = @password_hash, updated_at = now() WHERE id = @id;

-- name: TokenInsert :one
INSERT INTO api_tokens (org_id, user_id, name, prefix, secret_hash, created_by, expires_at)
VALUES (@org_id, @user_id, @name, @prefix, @secret_hash, @created_by, @expires_at)
RETURNING *;

-- name: TokenGet :one
SELECT * FROM api_tokens
WHERE id = @id AND (@platform::boolean OR org_id = @org_id);

-- name: TokenList :many
SELECT * FROM api_tokens
WHERE (@platform::boolean OR org_id = @org_id)
  AND (sqlc.narg(user_id)::uuid IS NULL OR user_id = sqlc.narg(user_id)::uuid)
ORDER BY created_at DESC, id;

-- name: TokenRevoke :one
UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now())
WHERE id = @id AND (@platform::boolean OR org_id = @org_id)
RETURNING *;

-- scope: worker — authentication finds the token by its secret's hash; there is no caller yet.
-- name: TokenAuthenticate :one
-- TokenAuthenticate finds the live token with this secret hash and its user.
SELECT t.id AS token_id, t.expires_at, t.revoked_at, t.last_used_at,
       u.id AS user_id, u.org_id, u.email, u.name, u.roles, u.specialties, u.disabled_at,
       o.kind AS org_kind
FROM api_tokens t
JOIN users u ON u.id = t.user_id
JOIN orgs o ON o.id = u.org_id
WHERE t.secret_hash = @secret_hash;

-- scope: worker — the id is the token TokenAuthenticate just found, not a request's.
-- name: TokenTouch :exec
UPDATE api_tokens SET last_used_at = now()
WHERE id = @id AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute');

-- name: SessionInsert :one
INSERT INTO sessions (secret_hash, csrf_token, org_id, user_id, expires_at)
VALUES (@secret_hash, @csrf_token, @org_id, @user_id, @expires_at)
RETURNING *;

-- scope: worker — authentication finds the session by its secret's hash; there is no caller yet.
-- name: SessionAuthenticate :one
SELECT s.id AS session_id, s.csrf_token, s.expires_at,
       u.id AS user_id, u.org_id, u.email, u.name, u.roles, u.specialties, u.disabled_at,
       o.kind AS org_kind
FROM sessions s
JOIN users u ON u.id = s.user_id
JOIN orgs o ON o.id = u.org_id
WHERE s.secret_hash = @secret_hash AND s.expires_at > now();

-- scope: worker — the id is the session SessionAuthenticate just found, not a request's.
-- name: SessionTouch :exec
UPDATE sessions SET last_seen_at = now(), expires_at = greatest(expires_at, @expires_at)
WHERE id = @id AND last_seen_at < now() - interval '1 minute';

-- name: SessionDelete :exec
DELETE FROM sessions WHERE id = @id AND org_id = @org_id;

-- name: SessionDeleteForUser :exec
DELETE FROM sessions WHERE user_id = @user_id AND (@platform::boolean OR org_id = @org_id);

-- name: LoginFailureInsert :exec
INSERT INTO login_failures (email, client_ip) VALUES (lower(@email), @client_ip);

-- name: LoginThrottleLock :exec
-- LoginThrottleLock serialises, until the transaction ends, the sign-in
-- attempts for one e-mail and those from one client address across every
-- API server, so that counting the recent failures and recording the
-- attempt are one step. The e-mail's lock is always taken first, so two
-- attempts never wait for each other in a cycle.
SELECT pg_advisory_xact_lock(hashtextextended('login-email:' || lower(@email::text), 0)),
       pg_advisory_xact_lock(hashtextextended('login-ip:' || @client_ip::text, 0));

-- name: LoginFailureCount :one
-- LoginFailureCount counts recent failures for the e-mail and for the
-- client address, and when the oldest of the counted ones happened.
SELECT
    count(*) FILTER (WHERE email = lower(@email))::int AS by_email,
    count(*) FILTER (WHERE client_ip = @client_ip)::int AS by_ip,
    coalesce(min(at), now())::timestamptz AS oldest
FROM login_failures
WHERE at > @since AND (email = lower(@email) OR client_ip = @client_ip);

-- name: LoginFailureClear :exec
DELETE FROM login_failures WHERE email = lower(@email);

-- scope: worker — the periodic sweep removes every tenant's expired sessions.
-- name: SweepExpired :exec
WITH s AS (DELETE FROM sessions WHERE expires_at < now())
DELETE FROM login_failures WHERE at < now() - interval '1 day';

-- scope: worker — the demo seed replaces its own tokens; no request reaches it.
-- name: TokenRevokeNamed :exec
-- TokenRevokeNamed revokes a user's live tokens of one name (the demo seed
-- replaces its tokens on every run).
UPDATE api_tokens SET revoked_at = now() WHERE user_id = @user_id AND name = @name AND revoked_at IS NULL;

-- scope: worker — bootstrap counts platform admins across tenants before there is one.
-- name: PlatformAdminCount :one
SELECT count(*)::int FROM users WHERE 'platform_admin' = ANY(roles);
