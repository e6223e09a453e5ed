-- +goose Up
-- The Referring Physician's Name (0008,0090) of a study, as its instances
-- carry it, so QIDO-RS can answer and match it. Studies indexed before
-- this migration keep '' until an instance of theirs arrives again.
ALTER TABLE dicom_studies ADD COLUMN referring_physician_name text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE dicom_studies DROP COLUMN referring_physician_name;
