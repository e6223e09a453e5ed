-- +goose Up
-- Indexes for QIDO-RS searches (internal/dicomweb/qido.sql): by date in a
-- site, by patient name prefix (lower-case, as it is matched), patient ID,
-- accession number, and series by modality.
CREATE INDEX dicom_studies_org_date_idx ON dicom_studies (org_id, study_date);
CREATE INDEX dicom_studies_patient_name_idx ON dicom_studies (lower(patient_name) text_pattern_ops);
CREATE INDEX dicom_studies_patient_id_idx ON dicom_studies (patient_id);
CREATE INDEX dicom_studies_accession_idx ON dicom_studies (accession_number);
CREATE INDEX dicom_series_org_modality_idx ON dicom_series (org_id, modality);

-- +goose Down
DROP INDEX dicom_series_org_modality_idx;
DROP INDEX dicom_studies_accession_idx;
DROP INDEX dicom_studies_patient_id_idx;
DROP INDEX dicom_studies_patient_name_idx;
DROP INDEX dicom_studies_org_date_idx;
