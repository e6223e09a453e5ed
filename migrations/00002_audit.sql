-- Append-only, hash-chained audit log. Each organisation's events form one
-- chain (chain = the acting principal's organisation, or the platform), so
-- writers of different tenants do not wait for each other; within a chain
-- every row stores the previous row's hash and its own, and
-- `teleread audit verify` recomputes them.

-- +goose Up
CREATE TABLE audit_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chain        text NOT NULL,
    chain_seq    bigint NOT NULL,
    at           timestamptz NOT NULL,
    actor_id     uuid,
    actor_org_id uuid,
    action       text NOT NULL,
    object_type  text NOT NULL,
    object_id    text NOT NULL,
    object_org_id uuid,
    client_ip    text NOT NULL DEFAULT '',
    request_id   text NOT NULL DEFAULT '',
    details      jsonb NOT NULL DEFAULT '{}',
    prev_hash    bytea NOT NULL,
    hash         bytea NOT NULL,
    UNIQUE (chain, chain_seq)
);
CREATE INDEX audit_events_at_idx ON audit_events (at);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, at);
CREATE INDEX audit_events_object_idx ON audit_events (object_type, object_id, at);
CREATE INDEX audit_events_object_org_idx ON audit_events (object_org_id, at);
CREATE INDEX audit_events_actor_org_idx ON audit_events (actor_org_id, at);

-- +goose StatementBegin
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- +goose Down
DROP TABLE audit_events;
DROP FUNCTION audit_events_append_only();
