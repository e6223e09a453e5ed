-- The DICOMweb edge reads the index that intake writes (dicom_studies,
-- dicom_series, dicom_instances, files, and photo_studies and
-- photo_instances for the photos); it never writes it. Every query
-- holds the caller's scope, with the visibility rule of cases: a platform
-- admin (@platform), the cases of the caller's site (all of them with
-- @site_wide, else those the caller referred or created), or the cases
-- routed to the caller's reading group.

-- name: InstancesToRetrieve :many
-- InstancesToRetrieve lists the stored instances of a study the caller may
-- see (optionally of one series, one instance, one case), in series and
-- instance order: those of the DICOM index, and the photos of a case's
-- photo study (photo true), whose object is generated when it is read.
SELECT u.sop_instance_uid, u.sop_class_uid, u.transfer_syntax, u.frames, u.instance_number,
       u.series_instance_uid, u.study_instance_uid, u.case_id, u.file_id, u.org_id, u.blob_key, u.stored_size, u.photo
FROM (
    SELECT i.sop_instance_uid, i.sop_class_uid, i.transfer_syntax, i.frames, i.instance_number,
           se.series_instance_uid, st.study_instance_uid, st.case_id,
           f.id AS file_id, f.org_id, f.blob_key, f.stored_size, false AS photo,
           se.series_number
    FROM dicom_studies st
    JOIN cases c ON c.id = st.case_id AND c.site_org_id = st.org_id
    JOIN dicom_series se ON se.study_id = st.id AND se.org_id = st.org_id
    JOIN dicom_instances i ON i.series_id = se.id AND i.org_id = st.org_id
    JOIN files f ON f.id = i.file_id AND f.org_id = st.org_id
    WHERE st.study_instance_uid = @study_uid
      AND (@series_uid::text = '' OR se.series_instance_uid = @series_uid::text)
      AND (@sop_uid::text = '' OR i.sop_instance_uid = @sop_uid::text)
      AND (@case_id::uuid = '00000000-0000-0000-0000-000000000000'::uuid OR c.id = @case_id::uuid)
      AND (@platform::boolean
           OR (c.site_org_id = @org_id AND (@site_wide::boolean OR c.referring_physician_id = @user_id OR c.created_by = @user_id))
           OR c.reading_group_id = @org_id)
    UNION ALL
    SELECT pi.sop_instance_uid, pi.sop_class_uid, pi.transfer_syntax, 1::int, pi.instance_number,
           pi.series_instance_uid, st.study_instance_uid, st.case_id,
           f.id, f.org_id, f.blob_key, 0::bigint, true,
           CASE pi.modality WHEN 'DMS' THEN 2 ELSE 1 END
    FROM photo_studies st
    JOIN cases c ON c.id = st.case_id AND c.site_org_id = st.org_id
    JOIN photo_instances pi ON pi.study_id = st.id AND pi.org_id = st.org_id
    JOIN files f ON f.id = pi.file_id AND f.org_id = st.org_id
    WHERE st.study_instance_uid = @study_uid
      AND (@series_uid::text = '' OR pi.series_instance_uid = @series_uid::text)
      AND (@sop_uid::text = '' OR pi.sop_instance_uid = @sop_uid::text)
      AND (@case_id::uuid = '00000000-0000-0000-0000-000000000000'::uuid OR c.id = @case_id::uuid)
      AND (@platform::boolean
           OR (c.site_org_id = @org_id AND (@site_wide::boolean OR c.referring_physician_id = @user_id OR c.created_by = @user_id))
           OR c.reading_group_id = @org_id)
) u
ORDER BY u.series_number NULLS LAST, u.series_instance_uid, u.instance_number NULLS LAST, u.sop_instance_uid
LIMIT @lim;
