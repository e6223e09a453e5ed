-- Intake: a presigned upload is claimed while the server completes it (so
-- two completes never ingest it twice), and files are found by their stored
-- object so that an object no file refers to can be removed.

-- +goose Up
ALTER TABLE uploads DROP CONSTRAINT uploads_status_check;
ALTER TABLE uploads ADD CONSTRAINT uploads_status_check
    CHECK (status IN ('pending', 'completing', 'completed', 'failed', 'expired'));
ALTER TABLE uploads ADD COLUMN claimed_at timestamptz;
ALTER TABLE uploads ADD COLUMN completed_at timestamptz;
CREATE INDEX files_blob_key_idx ON files (org_id, blob_key);

-- +goose Down
DROP INDEX files_blob_key_idx;
ALTER TABLE uploads DROP COLUMN completed_at;
ALTER TABLE uploads DROP COLUMN claimed_at;
ALTER TABLE uploads DROP CONSTRAINT uploads_status_check;
ALTER TABLE uploads ADD CONSTRAINT uploads_status_check
    CHECK (status IN ('pending', 'completed', 'failed', 'expired'));
