-- Queries of the resume lookup: which files a case already holds, by the
-- SHA-256 of the bytes as sent. The case is one of the caller's site
-- (@org_id).

-- name: FileLookupBySHA :many
-- FileLookupBySHA returns the files of a case of the caller's site whose
-- SHA-256 (of the bytes as sent) is one of sha256s.
SELECT f.sha256, f.id FROM files f
WHERE f.case_id = @case_id AND f.org_id = @org_id
  AND f.sha256 = ANY(@sha256s::text[])
ORDER BY f.sha256;
