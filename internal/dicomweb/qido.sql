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

-- name: CaseVisible :one
-- CaseVisible says whether the caller may see the case: a search under
-- /dicomweb/cases/{case} of a case it may not see is 404, not [].
SELECT EXISTS (
    SELECT 1 FROM cases c
    WHERE c.id = @case_id::uuid
      AND (@platform::boolean
           OR (c.site_org_id = @org_id AND (@site_wide::boolean OR c.referring_physician_id = @user_id OR c.created_by = @user_id))
           OR c.reading_group_id = @org_id)
)::boolean AS visible;

-- name: SearchStudies :many
-- SearchStudies finds the studies (of the index and the photo studies) the
-- caller may see that match every filter given ('' or an empty array is no
-- filter). @patient_name is a LIKE pattern (escape \), compared lower-case.
-- Dates and times are DICOM DA/TM text, so ranges compare as text.
-- The run it is written for: each table's matches are found, ordered and
-- cut to the page by that table alone (an index in the order of the answer,
-- migrations/00014), choosing only keys, which the indexes hold; the page is
-- then merged, and only its studies are read whole. (A LIMIT
-- over the UNION ALL alone makes PostgreSQL 15 join and sort every match,
-- and count the series of each, before cutting: seconds over 100,000
-- studies; docs/benchmarks.md, QIDO-RS.) A DICOM study's counts and
-- modalities are kept on its row by intake (migrations/00017); a photo
-- study's are counted. The searches run with a plan made for their values
-- (qido.go, customPlans).
SELECT u.study_instance_uid, u.case_id, u.org_id,
       COALESCE(ds.patient_name, ps.patient_name, '')::text AS patient_name,
       COALESCE(ds.patient_id, ps.patient_id, '')::text AS patient_id,
       COALESCE(ds.patient_birth_date, ps.patient_birth_date, '')::text AS patient_birth_date,
       COALESCE(ds.patient_sex, ps.patient_sex, '')::text AS patient_sex,
       u.study_date, u.study_time,
       COALESCE(ds.accession_number, ps.accession_number, '')::text AS accession_number,
       COALESCE(ds.referring_physician_name, ps.referring_physician_name, '')::text AS referring_physician_name,
       COALESCE(CASE WHEN u.photo THEN p.modalities ELSE ds.modalities END, '')::text AS modalities,
       (CASE WHEN u.photo THEN p.series_count ELSE ds.series_count END)::bigint AS series_count,
       (CASE WHEN u.photo THEN p.instance_count ELSE ds.instance_count END)::bigint AS instance_count
FROM (
    (SELECT st.id, false AS photo, st.study_instance_uid, st.case_id, st.org_id, st.study_date, st.study_time
    FROM dicom_studies st
    JOIN cases c ON c.id = st.case_id AND c.site_org_id = st.org_id
    WHERE (@case_id::uuid = '00000000-0000-0000-0000-000000000000'::uuid OR c.id = @case_id::uuid)
      AND (@platform::boolean
           OR (c.site_org_id = @org_id AND (@site_wide::boolean OR c.referring_physician_id = @user_id OR c.created_by = @user_id))
           OR c.reading_group_id = @org_id)
      AND (@patient_id::text = '' OR st.patient_id = @patient_id::text)
      AND (@patient_name::text = '' OR lower(st.patient_name) LIKE lower(@patient_name::text) ESCAPE '\')
      AND (@referrer::text = '' OR lower(st.referring_physician_name) LIKE lower(@referrer::text) ESCAPE '\')
      AND (@accession::text = '' OR st.accession_number = @accession::text)
      AND (cardinality(@study_uids::text[]) = 0 OR st.study_instance_uid = ANY(@study_uids::text[]))
      AND (@date_from::text = '' OR (st.study_date <> '' AND st.study_date >= @date_from::text))
      AND (@date_to::text = '' OR (st.study_date <> '' AND st.study_date <= @date_to::text))
      AND (@time_from::text = '' OR (st.study_time <> '' AND st.study_time >= @time_from::text))
      AND (@time_to::text = '' OR (st.study_time <> '' AND st.study_time <= @time_to::text))
      AND (cardinality(@modalities::text[]) = 0 OR string_to_array(st.modalities, '\') && @modalities::text[])
    ORDER BY st.study_date DESC, st.study_time DESC, st.study_instance_uid
    LIMIT @page_end::int)
    UNION ALL
    (SELECT st.id, true AS photo, st.study_instance_uid, st.case_id, st.org_id, st.study_date, st.study_time
    FROM photo_studies st
    JOIN cases c ON c.id = st.case_id AND c.site_org_id = st.org_id
    WHERE (@case_id::uuid = '00000000-0000-0000-0000-000000000000'::uuid OR c.id = @case_id::uuid)
      AND (@platform::boolean
           OR (c.site_org_id = @org_id AND (@site_wide::boolean OR c.referring_physician_id = @user_id OR c.created_by = @user_id))
           OR c.reading_group_id = @org_id)
      AND (@patient_id::text = '' OR st.patient_id = @patient_id::text)
      AND (@patient_name::text = '' OR lower(st.patient_name) LIKE lower(@patient_name::text) ESCAPE '\')
      AND (@referrer::text = '' OR lower(st.referring_physician_name) LIKE lower(@referrer::text) ESCAPE '\')
      AND (@accession::text = '' OR st.accession_number = @accession::text)
      AND (cardinality(@study_uids::text[]) = 0 OR st.study_instance_uid = ANY(@study_uids::text[]))
      AND (@date_from::text = '' OR (st.study_date <> '' AND st.study_date >= @date_from::text))
      AND (@date_to::text = '' OR (st.study_date <> '' AND st.study_date <= @date_to::text))
      AND (@time_from::text = '' OR (st.study_time <> '' AND st.study_time >= @time_from::text))
      AND (@time_to::text = '' OR (st.study_time <> '' AND st.study_time <= @time_to::text))
      AND (cardinality(@modalities::text[]) = 0 OR EXISTS (
           SELECT 1 FROM photo_instances pi WHERE pi.study_id = st.id AND pi.org_id = st.org_id AND pi.modality = ANY(@modalities::text[])))
    ORDER BY st.study_date DESC, st.study_time DESC, st.study_instance_uid
    LIMIT @page_end::int)
    ORDER BY study_date DESC, study_time DESC, study_instance_uid
    LIMIT @lim::int OFFSET @off::int
) u
-- Each page row's study is looked up by id (LIMIT 1 keeps PostgreSQL from
-- making a join of it, which hashes every photo study for a page of 100).
LEFT JOIN LATERAL (SELECT * FROM dicom_studies ds WHERE NOT u.photo AND ds.id = u.id AND ds.org_id = u.org_id LIMIT 1) ds ON true
LEFT JOIN LATERAL (SELECT * FROM photo_studies ps WHERE u.photo AND ps.id = u.id AND ps.org_id = u.org_id LIMIT 1) ps ON true
CROSS JOIN LATERAL (
    SELECT string_agg(DISTINCT pi.modality, '\' ORDER BY pi.modality) AS modalities,
           count(DISTINCT pi.series_instance_uid) AS series_count, count(*) AS instance_count
    FROM photo_instances pi WHERE u.photo AND pi.study_id = u.id AND pi.org_id = u.org_id) p
ORDER BY u.study_date DESC, u.study_time DESC, u.study_instance_uid;

-- name: SearchSeries :many
-- SearchSeries finds the series the caller may see, optionally of one study.
-- As SearchStudies: each table's page first; a DICOM series' instance
-- count is kept on its row (migrations/00017), a photo series' is counted.
SELECT u.study_instance_uid, u.case_id, u.org_id, u.series_instance_uid, u.modality, u.series_number,
       u.series_description,
       (CASE WHEN u.photo THEN u.photo_instances
             ELSE u.dicom_instances END)::bigint AS instance_count
FROM (
    (SELECT se.id, false AS photo, st.study_instance_uid, st.case_id, st.org_id, se.series_instance_uid, se.modality,
           COALESCE(se.series_number, 0)::int AS series_number, se.series_description, 0::bigint AS photo_instances,
           se.instance_count::bigint AS dicom_instances
    FROM dicom_studies st
    JOIN cases c ON c.id = st.case_id AND c.site_org_id = st.org_id
    JOIN dicom_series se ON se.study_id = st.id AND se.org_id = st.org_id
    WHERE (@case_id::uuid = '00000000-0000-0000-0000-000000000000'::uuid OR c.id = @case_id::uuid)
      AND (@platform::boolean
           OR (c.site_org_id = @org_id AND (@site_wide::boolean OR c.referring_physician_id = @user_id OR c.created_by = @user_id))
           OR c.reading_group_id = @org_id)
      AND (@study_uid::text = '' OR st.study_instance_uid = @study_uid::text)
      AND (@modality::text = '' OR se.modality = @modality::text)
      AND (cardinality(@series_uids::text[]) = 0 OR se.series_instance_uid = ANY(@series_uids::text[]))
    ORDER BY st.study_instance_uid, COALESCE(se.series_number, 0), se.series_instance_uid
    LIMIT @page_end::int)
    UNION ALL
    (SELECT st.id, true AS photo, st.study_instance_uid, st.case_id, st.org_id, pi.series_instance_uid, pi.modality,
           CASE pi.modality WHEN 'DMS' THEN 2 ELSE 1 END::int AS series_number,
           CASE pi.modality WHEN 'DMS' THEN 'Dermoscopic photographs' ELSE 'Clinical photographs' END::text AS series_description,
           count(*)::bigint AS photo_instances, 0::bigint AS dicom_instances
    FROM photo_studies st
    JOIN cases c ON c.id = st.case_id AND c.site_org_id = st.org_id
    JOIN photo_instances pi ON pi.study_id = st.id AND pi.org_id = st.org_id
    WHERE (@case_id::uuid = '00000000-0000-0000-0000-000000000000'::uuid OR c.id = @case_id::uuid)
      AND (@platform::boolean
           OR (c.site_org_id = @org_id AND (@site_wide::boolean OR c.referring_physician_id = @user_id OR c.created_by = @user_id))
           OR c.reading_group_id = @org_id)
      AND (@study_uid::text = '' OR st.study_instance_uid = @study_uid::text)
      AND (@modality::text = '' OR pi.modality = @modality::text)
      AND (cardinality(@series_uids::text[]) = 0 OR pi.series_instance_uid = ANY(@series_uids::text[]))
    GROUP BY st.id, st.study_instance_uid, st.case_id, st.org_id, pi.series_instance_uid, pi.modality
    ORDER BY st.study_instance_uid, 8, pi.series_instance_uid
    LIMIT @page_end::int)
    ORDER BY study_instance_uid, series_number, series_instance_uid
    LIMIT @lim::int OFFSET @off::int
) u
ORDER BY u.study_instance_uid, u.series_number, u.series_instance_uid;

-- name: SearchInstances :many
-- SearchInstances finds the instances the caller may see, optionally of one
-- study and one series.
SELECT u.study_instance_uid, u.case_id, u.org_id, u.series_instance_uid, u.sop_class_uid, u.sop_instance_uid,
       u.instance_number, u.rows, u.columns, u.frames
FROM (
    SELECT st.study_instance_uid, st.case_id, st.org_id, se.series_instance_uid, i.sop_class_uid, i.sop_instance_uid,
           COALESCE(i.instance_number, 0)::int AS instance_number, COALESCE(i.rows, 0)::int AS rows,
           COALESCE(i.columns, 0)::int AS columns, i.frames
    FROM dicom_studies st
    JOIN cases c ON c.id = st.case_id AND c.site_org_id = st.org_id
    JOIN dicom_series se ON se.study_id = st.id AND se.org_id = st.org_id
    JOIN dicom_instances i ON i.series_id = se.id AND i.org_id = st.org_id
    WHERE (@case_id::uuid = '00000000-0000-0000-0000-000000000000'::uuid OR c.id = @case_id::uuid)
      AND (@platform::boolean
           OR (c.site_org_id = @org_id AND (@site_wide::boolean OR c.referring_physician_id = @user_id OR c.created_by = @user_id))
           OR c.reading_group_id = @org_id)
      AND (@study_uid::text = '' OR st.study_instance_uid = @study_uid::text)
      AND (@series_uid::text = '' OR se.series_instance_uid = @series_uid::text)
      AND (@sop_class::text = '' OR i.sop_class_uid = @sop_class::text)
      AND (cardinality(@sop_uids::text[]) = 0 OR i.sop_instance_uid = ANY(@sop_uids::text[]))
    UNION ALL
    SELECT st.study_instance_uid, st.case_id, st.org_id, pi.series_instance_uid,
           pi.sop_class_uid, pi.sop_instance_uid,
           pi.instance_number, pi.rows, pi.columns, 1::int AS frames
    FROM photo_studies st
    JOIN cases c ON c.id = st.case_id AND c.site_org_id = st.org_id
    JOIN photo_instances pi ON pi.study_id = st.id AND pi.org_id = st.org_id
    WHERE (@case_id::uuid = '00000000-0000-0000-0000-000000000000'::uuid OR c.id = @case_id::uuid)
      AND (@platform::boolean
           OR (c.site_org_id = @org_id AND (@site_wide::boolean OR c.referring_physician_id = @user_id OR c.created_by = @user_id))
           OR c.reading_group_id = @org_id)
      AND (@study_uid::text = '' OR st.study_instance_uid = @study_uid::text)
      AND (@series_uid::text = '' OR pi.series_instance_uid = @series_uid::text)
      AND (@sop_class::text = '' OR pi.sop_class_uid = @sop_class::text)
      AND (cardinality(@sop_uids::text[]) = 0 OR pi.sop_instance_uid = ANY(@sop_uids::text[]))
) u
ORDER BY u.study_instance_uid, u.series_instance_uid, u.instance_number, u.sop_instance_uid
LIMIT @lim OFFSET @off;
