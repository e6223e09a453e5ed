-- The photo index: each accepted photo of a case is an instance of the
-- case's VL Photographic study (migrations/00011_photo_index.sql).

-- name: PhotoStudyOfCase :one
-- PhotoStudyOfCase is the case's photo study, if it has one yet.
SELECT * FROM photo_studies WHERE org_id = @org_id AND case_id = @case_id;
