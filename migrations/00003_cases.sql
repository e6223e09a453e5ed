-- Cases, their timeline, files, the DICOM study/series/instance index,
-- presigned uploads and idempotency keys.

-- +goose Up
CREATE TABLE cases (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    site_org_id            uuid NOT NULL REFERENCES orgs (id),
    created_by             uuid NOT NULL REFERENCES users (id),
    referring_physician_id uuid NOT NULL REFERENCES users (id),
    status                 text NOT NULL DEFAULT 'draft' CHECK (status IN (
                               'draft', 'submitted', 'routed', 'in_review', 'reported', 'delivered',
                               'acknowledged', 'info_requested', 'cancelled')),
    specialty              text NOT NULL CHECK (specialty IN ('dermatology', 'radiology')),
    priority               text NOT NULL CHECK (priority IN ('stat', 'urgent', 'routine')),
    patient_name           text NOT NULL CHECK (length(patient_name) BETWEEN 1 AND 200),
    patient_birth_date     date NOT NULL,
    patient_sex            text NOT NULL CHECK (patient_sex IN ('F', 'M', 'O', 'U')),
    patient_mrn            text NOT NULL CHECK (length(patient_mrn) BETWEEN 1 AND 64),
    clinical_question      text NOT NULL CHECK (length(clinical_question) BETWEEN 1 AND 4000),
    history                text NOT NULL DEFAULT '' CHECK (length(history) <= 20000),
    lesion_body_site       text,
    lesion_duration        text,
    -- The sealed manifest: when set, submit waits for exactly these files.
    manifest_sealed_at     timestamptz,
    complete_at            timestamptz,
    -- Routing and reading (filled by the worklist issue).
    reading_group_id       uuid REFERENCES orgs (id),
    assigned_to            uuid REFERENCES users (id),
    due_at                 timestamptz,
    submitted_at           timestamptz,
    cancelled_at           timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cases_site_idx ON cases (site_org_id, created_at DESC);
CREATE INDEX cases_referrer_idx ON cases (referring_physician_id, created_at DESC);
CREATE INDEX cases_status_idx ON cases (site_org_id, status);

CREATE TABLE case_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id     uuid NOT NULL REFERENCES cases (id),
    at          timestamptz NOT NULL DEFAULT now(),
    actor_id    uuid REFERENCES users (id),
    kind        text NOT NULL,
    from_status text,
    to_status   text,
    details     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX case_events_case_idx ON case_events (case_id, id);

-- Files the site declared in the sealed manifest.
CREATE TABLE case_manifest_entries (
    case_id uuid NOT NULL REFERENCES cases (id),
    sha256  text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    name    text NOT NULL DEFAULT '',
    size    bigint CHECK (size >= 0),
    PRIMARY KEY (case_id, sha256)
);

CREATE TABLE files (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    case_id        uuid NOT NULL REFERENCES cases (id),
    org_id         uuid NOT NULL REFERENCES orgs (id),
    kind           text NOT NULL CHECK (kind IN ('dicom', 'photo')),
    filename       text NOT NULL,
    content_type   text NOT NULL,
    -- size and sha256 of the bytes as uploaded (what a manifest declares)
    size           bigint NOT NULL CHECK (size > 0),
    sha256         text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    -- the stored object: the original for DICOM, the cleaned copy for photos
    blob_key       text NOT NULL,
    stored_size    bigint NOT NULL,
    stored_sha256  text NOT NULL,
    uploaded_by    uuid NOT NULL REFERENCES users (id),
    -- photos
    width          int,
    height         int,
    body_site      text,
    dermoscopic    boolean,
    -- quality warnings and what metadata was removed
    warnings       jsonb NOT NULL DEFAULT '[]',
    metadata       jsonb NOT NULL DEFAULT '{}',
    -- a DICOM whose patient does not match the case
    patient_mismatch boolean NOT NULL DEFAULT false,
    -- previews, rendered by a River job
    preview_status text NOT NULL DEFAULT 'pending' CHECK (preview_status IN ('pending', 'ready', 'unavailable', 'failed')),
    preview_note   text NOT NULL DEFAULT '',
    preview_key    text,
    thumbnail_key  text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (case_id, sha256)
);
CREATE INDEX files_case_idx ON files (case_id, created_at);
CREATE INDEX files_org_idx ON files (org_id);

CREATE TABLE dicom_studies (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id             uuid NOT NULL REFERENCES orgs (id),
    case_id            uuid NOT NULL REFERENCES cases (id),
    study_instance_uid text NOT NULL,
    patient_name       text NOT NULL DEFAULT '',
    patient_id         text NOT NULL DEFAULT '',
    patient_birth_date text NOT NULL DEFAULT '',
    patient_sex        text NOT NULL DEFAULT '',
    study_date         text NOT NULL DEFAULT '',
    study_time         text NOT NULL DEFAULT '',
    study_description  text NOT NULL DEFAULT '',
    accession_number   text NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, study_instance_uid)
);
CREATE INDEX dicom_studies_case_idx ON dicom_studies (case_id);

CREATE TABLE dicom_series (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id              uuid NOT NULL REFERENCES orgs (id),
    study_id            uuid NOT NULL REFERENCES dicom_studies (id),
    series_instance_uid text NOT NULL,
    modality            text NOT NULL DEFAULT '',
    body_part           text NOT NULL DEFAULT '',
    series_description  text NOT NULL DEFAULT '',
    series_number       int,
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, series_instance_uid)
);
CREATE INDEX dicom_series_study_idx ON dicom_series (study_id);

CREATE TABLE dicom_instances (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id             uuid NOT NULL REFERENCES orgs (id),
    series_id          uuid NOT NULL REFERENCES dicom_series (id),
    file_id            uuid NOT NULL REFERENCES files (id),
    sop_instance_uid   text NOT NULL,
    sop_class_uid      text NOT NULL DEFAULT '',
    instance_number    int,
    rows               int,
    columns            int,
    frames             int NOT NULL DEFAULT 1,
    transfer_syntax    text NOT NULL DEFAULT '',
    photometric        text NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, sop_instance_uid)
);
CREATE INDEX dicom_instances_series_idx ON dicom_instances (series_id);
CREATE INDEX dicom_instances_file_idx ON dicom_instances (file_id);

-- Presigned uploads: the site PUTs straight to object storage, then
-- completes; the file joins the case only after its size and checksum check.
CREATE TABLE uploads (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    case_id      uuid NOT NULL REFERENCES cases (id),
    org_id       uuid NOT NULL REFERENCES orgs (id),
    created_by   uuid NOT NULL REFERENCES users (id),
    filename     text NOT NULL,
    content_type text NOT NULL,
    size         bigint NOT NULL CHECK (size > 0),
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    object_key   text NOT NULL,
    multipart_id text,
    part_size    bigint,
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'completed', 'failed', 'expired')),
    file_id      uuid REFERENCES files (id),
    error        text NOT NULL DEFAULT '',
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX uploads_case_idx ON uploads (case_id);
CREATE INDEX uploads_pending_idx ON uploads (expires_at) WHERE status = 'pending';

-- Idempotency-Key: the first answer to a request is kept and replayed.
CREATE TABLE idempotency_keys (
    org_id       uuid NOT NULL REFERENCES orgs (id),
    key          text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    route        text NOT NULL,
    request_hash text NOT NULL,
    status_code  int,
    response     jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE uploads;
DROP TABLE dicom_instances;
DROP TABLE dicom_series;
DROP TABLE dicom_studies;
DROP TABLE files;
DROP TABLE case_manifest_entries;
DROP TABLE case_events;
DROP TABLE cases;
