-- +goose Up
-- A dermoscopic photo is a Dermoscopic Photography Image (Supplement 221:
-- SOP class 1.2.840.10008.5.1.4.1.1.77.1.7, Modality DMS), a clinical
-- photo a VL Photographic Image (1.2.840.10008.5.1.4.1.1.77.1.4, Modality
-- XC). A series holds one modality, so a case's photo study has up to two
-- series: series_instance_uid for the clinical photos and
-- dermoscopy_series_uid for the dermoscopic ones; each instance names its
-- own series, SOP class and modality.
-- dermoscopy_series_uid is set with the study (and, on a study made
-- before it existed, by the next photo).
ALTER TABLE photo_studies ADD COLUMN dermoscopy_series_uid text;
ALTER TABLE photo_studies ADD CONSTRAINT photo_studies_dermoscopy_series_key UNIQUE (org_id, dermoscopy_series_uid);

ALTER TABLE photo_instances
    ADD COLUMN series_instance_uid text,
    ADD COLUMN sop_class_uid text NOT NULL DEFAULT '1.2.840.10008.5.1.4.1.1.77.1.4',
    ADD COLUMN modality text NOT NULL DEFAULT 'XC' CHECK (modality IN ('XC', 'DMS'));
UPDATE photo_instances pi SET series_instance_uid = st.series_instance_uid
FROM photo_studies st WHERE st.id = pi.study_id;
ALTER TABLE photo_instances ALTER COLUMN series_instance_uid SET NOT NULL;
ALTER TABLE photo_instances ALTER COLUMN sop_class_uid DROP DEFAULT;
ALTER TABLE photo_instances ALTER COLUMN modality DROP DEFAULT;
CREATE INDEX photo_instances_series_idx ON photo_instances (org_id, series_instance_uid);

-- +goose Down
DROP INDEX photo_instances_series_idx;
ALTER TABLE photo_instances DROP COLUMN modality, DROP COLUMN sop_class_uid, DROP COLUMN series_instance_uid;
ALTER TABLE photo_studies DROP CONSTRAINT photo_studies_dermoscopy_series_key;
ALTER TABLE photo_studies DROP COLUMN dermoscopy_series_uid;
