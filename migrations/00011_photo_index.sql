-- +goose Up
-- Dermatology photos in the imaging world: each accepted photo of a case is
-- also a DICOM VL Photographic Image in the case's own photo study (one per
-- case, one series), so QIDO-RS lists it and WADO-RS serves it like any
-- other instance. The object is generated from the stored photo when it is
-- read; these rows hold everything it is made of apart from the pixels, so
-- fetching it twice gives the same bytes and UIDs. The study attributes are
-- the case's at the time of the first photo, copied here (not read from the
-- case on each fetch) for the same reason. UIDs are 2.25 UUID-derived.
CREATE TABLE photo_studies (
    id                       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id                   uuid NOT NULL REFERENCES orgs (id),
    case_id                  uuid NOT NULL UNIQUE REFERENCES cases (id),
    study_instance_uid       text NOT NULL,
    series_instance_uid      text NOT NULL,
    patient_name             text NOT NULL DEFAULT '',
    patient_id               text NOT NULL DEFAULT '',
    patient_birth_date       text NOT NULL DEFAULT '',
    patient_sex              text NOT NULL DEFAULT '',
    study_date               text NOT NULL DEFAULT '',
    study_time               text NOT NULL DEFAULT '',
    study_description        text NOT NULL DEFAULT '',
    accession_number         text NOT NULL DEFAULT '',
    referring_physician_name text NOT NULL DEFAULT '',
    created_at               timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, study_instance_uid),
    UNIQUE (org_id, series_instance_uid)
);

CREATE TABLE photo_instances (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id           uuid NOT NULL REFERENCES orgs (id),
    study_id         uuid NOT NULL REFERENCES photo_studies (id),
    file_id          uuid NOT NULL UNIQUE REFERENCES files (id),
    sop_instance_uid text NOT NULL,
    instance_number  int NOT NULL,
    -- how the generated object carries the pixels: JPEG Baseline
    -- (1.2.840.10008.1.2.4.50) for a JPEG kept as it is, else Explicit VR
    -- Little Endian with the decoded pixels.
    transfer_syntax  text NOT NULL,
    rows             int NOT NULL,
    columns          int NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, sop_instance_uid)
);
CREATE INDEX photo_instances_study_idx ON photo_instances (study_id, instance_number);

-- +goose Down
DROP TABLE photo_instances;
DROP TABLE photo_studies;
