-- +goose Up
-- QIDO-RS answers every study with its NumberOfStudyRelatedSeries,
-- NumberOfStudyRelatedInstances and ModalitiesInStudy, and every series
-- with its NumberOfSeriesRelatedInstances. Counting them for each study of
-- a page of 100 was most of a search's time (docs/benchmarks.md, QIDO-RS),
-- so intake keeps them on the rows, in the statement that adds the
-- instance (the study and series rows are already locked by the upload's
-- upserts). The index has no deletes, so the counts only grow.
ALTER TABLE dicom_studies
    ADD COLUMN series_count   int  NOT NULL DEFAULT 0,
    ADD COLUMN instance_count int  NOT NULL DEFAULT 0,
    ADD COLUMN modalities     text NOT NULL DEFAULT '';
ALTER TABLE dicom_series
    ADD COLUMN instance_count int NOT NULL DEFAULT 0;

UPDATE dicom_series se SET instance_count = n.c
FROM (SELECT series_id, count(*) AS c FROM dicom_instances GROUP BY series_id) n
WHERE n.series_id = se.id;

UPDATE dicom_studies st SET series_count = n.series, instance_count = n.instances, modalities = n.modalities
FROM (SELECT study_id, count(*) AS series, sum(instance_count) AS instances,
             COALESCE(string_agg(DISTINCT modality, '\' ORDER BY modality) FILTER (WHERE modality <> ''), '') AS modalities
      FROM dicom_series GROUP BY study_id) n
WHERE n.study_id = st.id;

-- +goose Down
ALTER TABLE dicom_series DROP COLUMN instance_count;
ALTER TABLE dicom_studies DROP COLUMN modalities, DROP COLUMN instance_count, DROP COLUMN series_count;
