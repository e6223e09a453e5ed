-- +goose Up
-- Incoming studies: DICOM instances a site pushed to /dicomweb/studies
-- (site-wide, no case named) wait here until someone makes a case of them
-- or attaches them to a draft. A study belongs to one case of a site: once
-- attached, its instances are that case's files and the incoming rows only
-- remember where they went. The bytes are stored once, at the site's
-- content address, whether incoming or attached.
CREATE TABLE incoming_studies (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id             uuid NOT NULL REFERENCES orgs (id),
    study_instance_uid text NOT NULL,
    patient_name       text NOT NULL DEFAULT '',
    patient_id         text NOT NULL DEFAULT '',
    patient_birth_date text NOT NULL DEFAULT '',
    patient_sex        text NOT NULL DEFAULT '',
    study_date         text NOT NULL DEFAULT '',
    study_time         text NOT NULL DEFAULT '',
    study_description  text NOT NULL DEFAULT '',
    accession_number   text NOT NULL DEFAULT '',
    first_received_at  timestamptz NOT NULL DEFAULT now(),
    last_received_at   timestamptz NOT NULL DEFAULT now(),
    -- case_id is set when the study is attached to a case.
    case_id            uuid REFERENCES cases (id),
    attached_at        timestamptz,
    UNIQUE (org_id, study_instance_uid)
);
CREATE INDEX incoming_studies_waiting_idx ON incoming_studies (org_id, last_received_at DESC) WHERE case_id IS NULL;

CREATE TABLE incoming_instances (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id              uuid NOT NULL REFERENCES orgs (id),
    study_id            uuid NOT NULL REFERENCES incoming_studies (id),
    series_instance_uid text NOT NULL,
    sop_instance_uid    text NOT NULL,
    sop_class_uid       text NOT NULL DEFAULT '',
    modality            text NOT NULL DEFAULT '',
    transfer_syntax     text NOT NULL DEFAULT '',
    blob_key            text NOT NULL,
    size                bigint NOT NULL,
    sha256              text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    received_by         uuid NOT NULL REFERENCES users (id),
    received_at         timestamptz NOT NULL DEFAULT now(),
    -- file_id is the case's file this instance became when attached.
    file_id             uuid REFERENCES files (id),
    UNIQUE (org_id, sop_instance_uid)
);
CREATE INDEX incoming_instances_study_idx ON incoming_instances (study_id);
CREATE INDEX incoming_instances_blob_idx ON incoming_instances (org_id, blob_key);

-- +goose Down
DROP TABLE incoming_instances;
DROP TABLE incoming_studies;
