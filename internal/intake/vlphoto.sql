-- The photo index: each accepted photo of a case is an instance of the
-- case's VL Photographic study (migrations/00011_photo_index.sql).

-- name: PhotoStudyOfCase :one
-- PhotoStudyOfCase is the case's photo study, if it has one yet.
SELECT * FROM photo_studies WHERE org_id = @org_id AND case_id = @case_id;

-- name: PhotoStudyEnsure :one
-- PhotoStudyEnsure makes the case's photo study with the attributes of the
-- case now, or returns the one it has (with a dermoscopy series UID, if
-- it had none yet). Either way the row stays locked to
-- the end of the transaction, so instance numbers are given in turn.
INSERT INTO photo_studies (org_id, case_id, study_instance_uid, series_instance_uid, patient_name, patient_id,
                           patient_birth_date, patient_sex, study_date, study_time, study_description,
                           accession_number, referring_physician_name, dermoscopy_series_uid)
VALUES (@org_id, @case_id, @study_instance_uid, @series_instance_uid, @patient_name, @patient_id,
        @patient_birth_date, @patient_sex, @study_date, @study_time, @study_description,
        @accession_number, @referring_physician_name, @dermoscopy_series_uid::text)
ON CONFLICT (case_id) DO UPDATE
    SET dermoscopy_series_uid = COALESCE(photo_studies.dermoscopy_series_uid, EXCLUDED.dermoscopy_series_uid)
    WHERE photo_studies.org_id = @org_id
RETURNING *;

-- name: PhotoInstanceInsert :one
-- PhotoInstanceInsert adds a photo to its study as the next instance; a
-- photo already there is left as it is (and no row comes back).
INSERT INTO photo_instances (org_id, study_id, file_id, series_instance_uid, sop_class_uid, modality,
                             sop_instance_uid, instance_number, transfer_syntax, rows, columns)
SELECT @org_id, @study_id, @file_id, @series_instance_uid, @sop_class_uid, @modality, @sop_instance_uid,
       COALESCE((SELECT max(pi.instance_number) FROM photo_instances pi
                 WHERE pi.study_id = @study_id AND pi.org_id = @org_id), 0) + 1,
       @transfer_syntax, @rows, @columns
ON CONFLICT (file_id) DO NOTHING
RETURNING *;

-- name: PhotoReferrerName :one
-- PhotoReferrerName is the name of the case's referring physician.
SELECT u.name FROM cases c JOIN users u ON u.id = c.referring_physician_id
WHERE c.id = @case_id AND c.site_org_id = @org_id;

-- name: PhotoObject :one
-- PhotoObject is everything the VL Photographic Image of a photo is made
-- of apart from its pixels.
SELECT st.study_instance_uid, pi.series_instance_uid, pi.sop_class_uid, st.patient_name, st.patient_id, st.patient_birth_date,
       st.patient_sex, st.study_date, st.study_time, st.study_description, st.accession_number,
       st.referring_physician_name, pi.sop_instance_uid, pi.instance_number, pi.transfer_syntax,
       pi.created_at, f.blob_key, f.body_site, f.dermoscopic, o.name AS institution_name
FROM photo_instances pi
JOIN photo_studies st ON st.id = pi.study_id AND st.org_id = pi.org_id
JOIN files f ON f.id = pi.file_id AND f.org_id = pi.org_id
JOIN orgs o ON o.id = pi.org_id
WHERE pi.file_id = @file_id AND pi.org_id = @org_id;

-- scope: worker — the sweep's backfill indexes the photos accepted before the photo index existed, in every organisation
-- name: PhotosUnindexed :many
-- PhotosUnindexed lists accepted photos that are not in the photo index yet.
SELECT f.id, f.case_id, f.org_id, f.blob_key
FROM files f
WHERE f.kind = 'photo'
  AND NOT EXISTS (SELECT 1 FROM photo_instances pi WHERE pi.file_id = f.id)
ORDER BY f.created_at, f.id
LIMIT @lim;
