-- +goose Up
-- Indexes for the QIDO-RS searches as scripts/bench/qido measures them
-- over 100,000 studies (docs/benchmarks.md, QIDO-RS). The searches are in
-- the caller's scope, but the scope is an OR over the case (its site, its
-- referring physician, the reading group it is routed to), so no index
-- that leads with org_id can serve them: these lead with what is matched
-- or sorted on, and the case is checked row by row as the index is read
-- in the answer's order.
--
-- The answer's order (newest first): a page of every study, of a date
-- range, or of a site with few matches stops after the page's rows. The
-- included keys are all the page needs, so the index alone answers it.
CREATE INDEX dicom_studies_answer_order_idx ON dicom_studies (study_date DESC, study_time DESC, study_instance_uid)
    INCLUDE (id, case_id, org_id);
CREATE INDEX photo_studies_answer_order_idx ON photo_studies (study_date DESC, study_time DESC, study_instance_uid)
    INCLUDE (id, case_id, org_id);
-- A patient name prefix (DOE*, DO?E*) matches about 1% of the studies for
-- a common surname: read from a heap in no useful order, PostgreSQL would
-- rather scan the table. With the keys included, the index alone answers.
-- (It replaces 00012's index on the name alone.)
DROP INDEX dicom_studies_patient_name_idx;
CREATE INDEX dicom_studies_patient_name_idx ON dicom_studies (lower(patient_name) text_pattern_ops)
    INCLUDE (patient_name, study_date, study_time, study_instance_uid, id, case_id, org_id);
-- Each match's case is read for the visibility rule: with the rule's
-- columns included, from the index alone (a page of every study at offset
-- 1000 reads some 1,700 cases). Without it, PostgreSQL would rather scan
-- all cases into a hash than look up a thousand.
CREATE INDEX cases_visibility_idx ON cases (id)
    INCLUDE (site_org_id, reading_group_id, referring_physician_id, created_by);
-- UIDs are unique per site, and searched for without one: a study by its
-- UID (a list of them, StudyVisible, the series and instances of a study),
-- a series, an instance.
CREATE INDEX dicom_studies_uid_idx ON dicom_studies (study_instance_uid);
CREATE INDEX dicom_series_uid_idx ON dicom_series (series_instance_uid);
CREATE INDEX dicom_instances_sop_idx ON dicom_instances (sop_instance_uid);
-- The photo studies' matching keys, as 00012 has for the index.
CREATE INDEX photo_studies_uid_idx ON photo_studies (study_instance_uid);
CREATE INDEX photo_studies_patient_id_idx ON photo_studies (patient_id);
CREATE INDEX photo_studies_accession_idx ON photo_studies (accession_number);
CREATE INDEX photo_studies_patient_name_idx ON photo_studies (lower(patient_name) text_pattern_ops);
CREATE INDEX photo_instances_sop_idx ON photo_instances (sop_instance_uid);
-- /series?Modality=MR finds no photo series without reading them all.
CREATE INDEX photo_instances_modality_idx ON photo_instances (modality);

-- +goose Down
DROP INDEX photo_instances_modality_idx;
DROP INDEX photo_instances_sop_idx;
DROP INDEX photo_studies_patient_name_idx;
DROP INDEX photo_studies_accession_idx;
DROP INDEX photo_studies_patient_id_idx;
DROP INDEX photo_studies_uid_idx;
DROP INDEX dicom_instances_sop_idx;
DROP INDEX dicom_series_uid_idx;
DROP INDEX dicom_studies_uid_idx;
DROP INDEX dicom_studies_patient_name_idx;
CREATE INDEX dicom_studies_patient_name_idx ON dicom_studies (lower(patient_name) text_pattern_ops);
DROP INDEX cases_visibility_idx;
DROP INDEX photo_studies_answer_order_idx;
DROP INDEX dicom_studies_answer_order_idx;
