-- Reads of patient data waiting to be folded into the audit chain
-- (docs/security.md, "Reads"). A read is one INSERT here, without the
-- chain's lock, so a viewer's many concurrent frame requests do not queue
-- behind each other.
-- audit.Fold later moves every closed window into audit_events, in one
-- transaction under the chain's lock: one chained event per actor, object,
-- action, client address and window, with the number of reads and the
-- first and last of them; the rows folded are deleted in that transaction.

-- +goose Up
CREATE TABLE audit_reads (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chain         text NOT NULL,
    window_start  timestamptz NOT NULL,
    at            timestamptz NOT NULL,
    actor_id      uuid,
    actor_org_id  uuid,
    action        text NOT NULL,
    object_type   text NOT NULL,
    object_id     text NOT NULL,
    object_org_id uuid,
    client_ip     text NOT NULL DEFAULT '',
    request_id    text NOT NULL DEFAULT '',
    details       jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_reads_window_idx ON audit_reads (chain, window_start);
CREATE INDEX audit_reads_actor_org_idx ON audit_reads (actor_org_id);
CREATE INDEX audit_reads_object_org_idx ON audit_reads (object_org_id);

-- A pending read is never changed: it is inserted, then deleted by the fold
-- that chains it.
-- +goose StatementBegin
CREATE FUNCTION audit_reads_no_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_reads rows are only inserted and folded (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_reads_no_update BEFORE UPDATE ON audit_reads
    FOR EACH ROW EXECUTE FUNCTION audit_reads_no_update();
CREATE TRIGGER audit_reads_no_truncate BEFORE TRUNCATE ON audit_reads
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reads_no_update();

-- +goose Down
DROP TABLE audit_reads;
DROP FUNCTION audit_reads_no_update();
