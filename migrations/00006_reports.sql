-- Reports: one per case, drafted by the specialist who holds the claim,
-- versioned while a draft (every save keeps the previous content), then
-- signed (preliminary and/or final) and frozen; corrections are addenda.
-- Signatures, addenda and draft history are append-only, and a signed
-- report's content cannot change: triggers hold this even against a bug.

-- +goose Up
CREATE TABLE reports (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    case_id         uuid NOT NULL UNIQUE REFERENCES cases (id),
    status          text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'preliminary', 'final')),
    version         int NOT NULL DEFAULT 1 CHECK (version >= 1),
    findings        text NOT NULL DEFAULT '' CHECK (length(findings) <= 20000),
    impression      text NOT NULL DEFAULT '' CHECK (length(impression) <= 8000),
    -- [{"text": ..., "system": "ICD-10" | "SNOMED-CT" | "", "code": ...}]
    diagnoses       jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(diagnoses) = 'array'),
    recommendations text NOT NULL DEFAULT '' CHECK (length(recommendations) <= 8000),
    -- an ISO 8601 duration of whole days, weeks, months or years (P3M), or ''
    follow_up       text NOT NULL DEFAULT '' CHECK (follow_up = '' OR follow_up ~ '^P([0-9]+[YMWD])+$'),
    critical        boolean NOT NULL DEFAULT false,
    author_id       uuid NOT NULL REFERENCES users (id),
    updated_by      uuid NOT NULL REFERENCES users (id),
    -- SHA-256 of the canonical signed content, set by the first signature
    content_sha256  text CHECK (content_sha256 ~ '^[0-9a-f]{64}$'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'draft') = (content_sha256 IS NULL))
);
CREATE INDEX reports_status_idx ON reports (status);

-- The content of every earlier version of a draft.
CREATE TABLE report_versions (
    report_id       uuid NOT NULL REFERENCES reports (id),
    version         int NOT NULL,
    findings        text NOT NULL,
    impression      text NOT NULL,
    diagnoses       jsonb NOT NULL,
    recommendations text NOT NULL,
    follow_up       text NOT NULL,
    critical        boolean NOT NULL,
    saved_by        uuid NOT NULL REFERENCES users (id),
    saved_at        timestamptz NOT NULL,
    PRIMARY KEY (report_id, version)
);

CREATE TABLE report_signatures (
    report_id      uuid NOT NULL REFERENCES reports (id),
    kind           text NOT NULL CHECK (kind IN ('preliminary', 'final')),
    signer_id      uuid NOT NULL REFERENCES users (id),
    signer_name    text NOT NULL,
    signed_at      timestamptz NOT NULL,
    content_sha256 text NOT NULL CHECK (content_sha256 ~ '^[0-9a-f]{64}$'),
    -- SHA-256 over the content hash, the kind, the signer and the time
    sha256         text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    PRIMARY KEY (report_id, kind)
);

CREATE TABLE report_addenda (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    report_id   uuid NOT NULL REFERENCES reports (id),
    text        text NOT NULL CHECK (length(text) BETWEEN 1 AND 20000),
    signer_id   uuid NOT NULL REFERENCES users (id),
    signer_name text NOT NULL,
    signed_at   timestamptz NOT NULL,
    sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$')
);
CREATE INDEX report_addenda_report_idx ON report_addenda (report_id, signed_at);

-- +goose StatementBegin
CREATE FUNCTION reports_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION reports_signed_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'reports are never deleted' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.status <> 'draft' AND (
        (NEW.case_id, NEW.version, NEW.findings, NEW.impression, NEW.diagnoses, NEW.recommendations,
         NEW.follow_up, NEW.critical, NEW.author_id, NEW.content_sha256)
        IS DISTINCT FROM
        (OLD.case_id, OLD.version, OLD.findings, OLD.impression, OLD.diagnoses, OLD.recommendations,
         OLD.follow_up, OLD.critical, OLD.author_id, OLD.content_sha256)
        OR NEW.status = 'draft'
        OR (OLD.status = 'final' AND NEW.status <> 'final')) THEN
        RAISE EXCEPTION 'report % is signed and cannot change', OLD.id USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER reports_frozen BEFORE UPDATE OR DELETE ON reports
    FOR EACH ROW EXECUTE FUNCTION reports_signed_frozen();
CREATE TRIGGER report_versions_append_only BEFORE UPDATE OR DELETE ON report_versions
    FOR EACH ROW EXECUTE FUNCTION reports_append_only();
CREATE TRIGGER report_signatures_append_only BEFORE UPDATE OR DELETE ON report_signatures
    FOR EACH ROW EXECUTE FUNCTION reports_append_only();
CREATE TRIGGER report_addenda_append_only BEFORE UPDATE OR DELETE ON report_addenda
    FOR EACH ROW EXECUTE FUNCTION reports_append_only();

-- +goose Down
DROP TABLE report_addenda;
DROP TABLE report_signatures;
DROP TABLE report_versions;
DROP TABLE reports;
DROP FUNCTION reports_signed_frozen();
DROP FUNCTION reports_append_only();
