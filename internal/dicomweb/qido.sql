-- QIDO-RS searches over the index (dicom_studies, dicom_series,
-- dicom_instances) and the photo index (photo_studies, photo_instances), in
-- the caller's scope, with the visibility rule of wado.sql.

-- name: StudyVisible :one
-- StudyVisible says whether the caller may see a study of that UID (of the
-- index or a photo study), optionally in one case: the searches below a
-- study answer 404 when it does not.
SELECT EXISTS (
    SELECT 1 FROM dicom_studies st
    JOIN cases c ON c.id = st.case_id AND c.site_org_id = st.org_id
    WHERE st.study_instance_uid = @study_uid
      AND (@case_id::uuid = '00000000-0000-0000-0000-000000000000'::uuid OR c.id = @case_id::uuid)
      AND (@platform::boolean
           OR (c.site_org_id = @org_id AND (@site_wide::boolean OR c.referring_physician_id = @user_id OR c.created_by = @user_id))
           OR c.reading_group_id = @org_id)
    UNION ALL
    SELECT 1 FROM photo_studies st
    JOIN cases c ON c.id = st.case_id AND c.site_org_id = st.org_id
    WHERE st.study_instance_uid = @study_uid
      AND (@case_id::uuid = '00000000-0000-0000-0000-000000000000'::uuid OR c.id = @case_id::uuid)
      AND (@platform::boolean
           OR (c.site_org_id = @org_id AND (@site_wide::boolean OR c.referring_physician_id = @user_id OR c.created_by = @user_id))
           OR c.reading_group_id = @org_id)
)::boolean AS visible;
