-- +goose Up
-- Previews are rendered for one instance per DICOM series when it arrives
-- (the first, which the worklist and the case page show for the series);
-- the others are 'deferred': rendered on first view and kept. A CT of
-- 3,000 instances costs one render on the ingest path, not 3,000.
ALTER TABLE files DROP CONSTRAINT files_preview_status_check;
ALTER TABLE files ADD CONSTRAINT files_preview_status_check
    CHECK (preview_status IN ('pending', 'deferred', 'ready', 'unavailable', 'failed'));

-- +goose Down
UPDATE files SET preview_status = 'pending' WHERE preview_status = 'deferred';
ALTER TABLE files DROP CONSTRAINT files_preview_status_check;
ALTER TABLE files ADD CONSTRAINT files_preview_status_check
    CHECK (preview_status IN ('pending', 'ready', 'unavailable', 'failed'));
