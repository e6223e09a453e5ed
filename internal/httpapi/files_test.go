package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/testenv"
)

func TestUploadFolderAndPhoto(t *testing.T) {
	t.Parallel()
	b := setupFiles(t)
	caseID := b.newCase(t)
	var parts []part
	for _, name := range dicomdirFiles {
		parts = append(parts, filePart(name, testfile(t, name)))
	}
	photo := testenv.WithGPS(testfile(t, "retina.jpg"))
	parts = append(parts, part{field: "body_site", body: []byte("left forearm")},
		part{field: "dermoscopic", body: []byte("true")}, filePart("lesion.jpg", photo))

	resp, body := b.upload(t, b.staffA, caseID, nil, parts...)
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	require.EqualValues(t, 8, body["accepted"])
	require.EqualValues(t, 0, body["rejected"])
	res := results(t, body)
	for _, name := range dicomdirFiles {
		base := name[strings.LastIndex(name, "/")+1:]
		r := res[base]
		require.NotNil(t, r, "only the base name is kept: %s", base)
		require.Equal(t, "accepted", r["status"])
		f := r["file"].(map[string]any)
		require.Equal(t, "dicom", f["kind"])
		require.Equal(t, sha256hex(testfile(t, name)), f["sha256"])
		require.Equal(t, false, f["duplicate"])
		require.Equal(t, false, f["patient_mismatch"])
	}
	pf := res["lesion.jpg"]["file"].(map[string]any)
	require.Equal(t, "photo", pf["kind"])
	require.Equal(t, "left forearm", pf["body_site"])
	require.Equal(t, true, pf["dermoscopic"])
	require.Equal(t, sha256hex(photo), pf["sha256"])
	require.NotEqual(t, pf["sha256"], pf["stored_sha256"])
	require.Equal(t, true, pf["metadata"].(map[string]any)["had_gps"])

	// The stored photo has no GPS: download it.
	cresp, content := b.get(t, pf["content_url"].(string), b.staffA, nil)
	require.Equal(t, http.StatusOK, cresp.StatusCode)
	require.Equal(t, "image/jpeg", cresp.Header.Get("Content-Type"))
	require.Equal(t, pf["stored_sha256"], sha256hex(content))
	require.False(t, bytes.Contains(content, testenv.GPSMarker), "GPS is gone from the stored copy")
	require.False(t, bytes.Contains(content, []byte("Exif\x00\x00")))

	resp, list := b.call(t, http.MethodGet, "/api/v1/cases/"+caseID+"/files", b.gpA, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, list["items"], 8)
	resp, studies := b.call(t, http.MethodGet, "/api/v1/cases/"+caseID+"/studies", b.staffA, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, studies["items"], 2)
	counts := map[string]float64{}
	for _, st := range studies["items"].([]any) {
		sm := st.(map[string]any)
		counts[sm["modalities"].([]any)[0].(string)] = sm["instances"].(float64)
	}
	require.Equal(t, map[string]float64{"CR": 3, "CT": 4}, counts)

	id := res["17106"]["file"].(map[string]any)["id"].(string)
	resp, f := b.call(t, http.MethodGet, "/api/v1/files/"+id, b.staffA, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "CT", f["dicom"].(map[string]any)["modality"])

	// Submit works with the files in.
	resp, sub := b.call(t, http.MethodPost, "/api/v1/cases/"+caseID+"/submit", b.staffA, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, sub)
}

func TestUploadDuplicateAndMismatch(t *testing.T) {
	t.Parallel()
	b := setupFiles(t)
	caseID := b.newCase(t)
	ct := testfile(t, dicomdirFiles[3])
	resp, first := b.upload(t, b.staffA, caseID, nil, filePart("ct.dcm", ct))
	require.Equal(t, http.StatusCreated, resp.StatusCode, first)
	firstFile := results(t, first)["ct.dcm"]["file"].(map[string]any)

	resp, again := b.upload(t, b.staffA, caseID, nil, filePart("ct-again.dcm", ct))
	require.Equal(t, http.StatusCreated, resp.StatusCode, again)
	f := results(t, again)["ct-again.dcm"]["file"].(map[string]any)
	require.Equal(t, true, f["duplicate"])
	require.Equal(t, firstFile["id"], f["id"])
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM files"))
	require.Len(t, b.objects(t, b.siteA.Org, "blobs/"), 1)

	resp, mm := b.upload(t, b.staffA, caseID, nil, filePart("peter.dcm", testfile(t, "dicomdir/98892001/CT2N/6293")))
	require.Equal(t, http.StatusCreated, resp.StatusCode, mm)
	pf := results(t, mm)["peter.dcm"]["file"].(map[string]any)
	require.Equal(t, true, pf["patient_mismatch"])
	w := pf["warnings"].([]any)[0].(map[string]any)
	require.Equal(t, "patient_mismatch", w["code"])
	_, evs := b.call(t, http.MethodGet, "/api/v1/cases/"+caseID+"/events", b.staffA, nil)
	kinds := map[string]int{}
	for _, e := range evs["items"].([]any) {
		kinds[e.(map[string]any)["kind"].(string)]++
	}
	require.Equal(t, 1, kinds["patient_mismatch"])
	require.Equal(t, 2, kinds["file_added"])
}

func TestUploadBadFiles(t *testing.T) {
	t.Parallel()
	b := setupFiles(t)
	caseID := b.newCase(t)
	ct := testfile(t, "CT_small.dcm")
	bad := []part{
		filePart("truncated.dcm", testfile(t, "bad_MR_truncated.dcm")),
		filePart("four-gb.dcm", append(testenv.DICOMHeader("1.2.826.0.1.3680043.2.1143.99", 16, 16, 1, 0xFFFFFFF0), make([]byte, 1024)...)),
		filePart("report.dcm", []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n%%EOF\n")),
		filePart("zero.dcm", nil),
		filePart("huge.png", testenv.HugePNG()),
	}
	// Only bad files: 422 with the reason of each in details.
	resp, body := b.upload(t, b.staffA, caseID, nil, bad...)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, body)
	res := results(t, body)
	for name, reason := range map[string]string{
		"truncated.dcm": "truncated", "four-gb.dcm": "4294967280 bytes", "report.dcm": "PDF",
		"zero.dcm": "empty", "huge.png": "20000x20000",
	} {
		require.Equal(t, "rejected", res[name]["status"], name)
		require.Contains(t, res[name]["reason"], reason, name)
	}

	// Bad files next to good ones: the good ones are accepted (201), and a
	// name with ../ and control characters is kept sanitised.
	evil := part{body: ct, disposition: `form-data; name="file"; filename*=UTF-8''..%2F..%2Fetc%2F%00pass%0D%0Awd%1B.dcm`}
	resp, body = b.upload(t, b.staffA, caseID, nil, append(bad, evil)...)
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	require.EqualValues(t, 1, body["accepted"])
	require.EqualValues(t, 5, body["rejected"])
	res = results(t, body)
	require.Equal(t, "accepted", res["passwd.dcm"]["status"], "%v", res)
	require.Equal(t, "passwd.dcm", res["passwd.dcm"]["file"].(map[string]any)["filename"])
	id := res["passwd.dcm"]["file"].(map[string]any)["id"].(string)
	cresp, _ := b.get(t, "/api/v1/files/"+id+"/content", b.staffA, nil)
	require.Equal(t, `attachment; filename=passwd.dcm`, cresp.Header.Get("Content-Disposition"))

	// Nothing of the refused files was stored.
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM files"))
	require.Equal(t, []string{"orgs/" + b.siteA.Org.ID.String() + "/blobs/" + sha256hex(ct)}, b.objects(t, b.siteA.Org, ""))
	incomplete, err := b.env.Blob.ListUploads(context.Background(), "orgs/")
	require.NoError(t, err)
	require.Empty(t, incomplete)
}

func TestUploadRawBody(t *testing.T) {
	t.Parallel()
	b := setupFiles(t)
	caseID := b.newCase(t)
	post := func(ct, query string, body []byte) (*http.Response, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, b.srv.URL+"/api/v1/cases/"+caseID+"/files"+query, bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+b.staffA)
		return do(t, req)
	}
	resp, body := post("application/dicom", "?filename=ct.dcm", testfile(t, "CT_small.dcm"))
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	require.Equal(t, "accepted", results(t, body)["ct.dcm"]["status"])

	resp, body = post("image/jpeg", "?filename=arm.jpg&body_site=arm&dermoscopic=false", testfile(t, "retina.jpg"))
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	f := results(t, body)["arm.jpg"]["file"].(map[string]any)
	require.Equal(t, "arm", f["body_site"])
	require.Equal(t, false, f["dermoscopic"])

	// The declared type does not decide: a JPEG sent as DICOM is a photo.
	resp, body = post("application/dicom", "?filename=x.dcm", testenv.WithGPS(testfile(t, "retina.jpg")))
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	require.Equal(t, "photo", results(t, body)["x.dcm"]["file"].(map[string]any)["kind"])

	resp, body = post("text/plain", "?filename=a.txt", []byte("hello"))
	require.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode, body)
	resp, body = post("application/dicom", "?filename=empty.dcm", nil)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, body)
	require.Contains(t, results(t, body)["empty.dcm"]["reason"], "empty")
	resp, body = post("image/png", "?filename=a.png&dermoscopic=maybe", testfile(t, "retina.jpg"))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, body)
}

func TestUploadRefusedBeforeStreaming(t *testing.T) {
	t.Parallel()
	b := setupFiles(t)
	caseID := b.newCase(t)
	ct := testfile(t, "CT_small.dcm")

	resp, body := b.upload(t, b.staffB, caseID, nil, filePart("ct.dcm", ct))
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "another site's case: %v", body)
	resp, body = b.upload(t, b.staffA, uuid.NewString(), nil, filePart("ct.dcm", ct))
	require.Equal(t, http.StatusNotFound, resp.StatusCode, body)
	require.Empty(t, b.objects(t, b.siteA.Org, ""))
	require.Empty(t, b.objects(t, b.siteB.Org, ""))

	resp, body = b.upload(t, b.staffA, caseID, nil, filePart("ct.dcm", ct))
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	resp, body = b.call(t, http.MethodPost, "/api/v1/cases/"+caseID+"/submit", b.staffA, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	resp, body = b.upload(t, b.staffA, caseID, nil, filePart("late.dcm", testfile(t, dicomdirFiles[0])))
	require.Equal(t, http.StatusConflict, resp.StatusCode, body)
	require.Contains(t, body["detail"], "submitted")
	require.Len(t, b.objects(t, b.siteA.Org, ""), 1, "nothing of the refused upload is stored")
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM files"))
}

func TestUploadIdempotency(t *testing.T) {
	t.Parallel()
	b := setupFiles(t)
	caseID := b.newCase(t)
	ct := testfile(t, "CT_small.dcm")
	key := map[string]string{"Idempotency-Key": "upload-" + uuid.NewString()}

	resp, first := b.upload(t, b.staffA, caseID, key, filePart("ct.dcm", ct), filePart("bad.dcm", []byte("nope")))
	require.Equal(t, http.StatusCreated, resp.StatusCode, first)
	events := b.count(t, "SELECT count(*) FROM case_events")
	audits := b.count(t, "SELECT (SELECT coalesce(sum(coalesce((details->>'reads')::int, 1)), 0) FROM audit_events) + (SELECT count(*) FROM audit_reads)")

	resp, again := b.upload(t, b.staffA, caseID, key, filePart("ct.dcm", ct), filePart("bad.dcm", []byte("nope")))
	require.Equal(t, http.StatusCreated, resp.StatusCode, again)
	require.Equal(t, "true", resp.Header.Get("Idempotent-Replayed"))
	require.Equal(t, first, again, "the first answer is replayed")
	require.Equal(t, events, b.count(t, "SELECT count(*) FROM case_events"), "not processed again")
	require.Equal(t, audits, b.count(t, "SELECT (SELECT coalesce(sum(coalesce((details->>'reads')::int, 1)), 0) FROM audit_events) + (SELECT count(*) FROM audit_reads)"))
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM files"))

	resp, other := b.upload(t, b.staffA, caseID, key, filePart("ct.dcm", testfile(t, dicomdirFiles[0])))
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, other)
	require.Contains(t, other["detail"], "Idempotency-Key")
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM files"))

	// Another route with the same key is another request.
	resp, other = b.call(t, http.MethodPost, "/api/v1/cases/"+caseID+"/uploads", "", nil)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, other)

	// A request still in flight with that key: 409.
	inflight := "inflight-" + uuid.NewString()
	_, err := b.env.Pool.Exec(context.Background(), `INSERT INTO idempotency_keys (org_id, key, route, request_hash)
		VALUES ($1, $2, $3, 'x')`, b.siteA.Org.ID, inflight, "POST /api/v1/cases/"+caseID+"/files")
	require.NoError(t, err)
	resp, body := b.upload(t, b.staffA, caseID, map[string]string{"Idempotency-Key": inflight}, filePart("ct2.dcm", ct))
	require.Equal(t, http.StatusConflict, resp.StatusCode, body)
	require.NotEmpty(t, resp.Header.Get("Retry-After"))

	// Presigned creation replays too.
	req := map[string]any{"filename": "big.dcm", "size": 1000, "sha256": sha256hex([]byte("x")), "content_type": "application/dicom"}
	ckey := "create-" + uuid.NewString()
	r1, u1 := b.callWith(t, http.MethodPost, "/api/v1/cases/"+caseID+"/uploads", b.staffA, req, map[string]string{"Idempotency-Key": ckey})
	require.Equal(t, http.StatusCreated, r1.StatusCode, u1)
	r2, u2 := b.callWith(t, http.MethodPost, "/api/v1/cases/"+caseID+"/uploads", b.staffA, req, map[string]string{"Idempotency-Key": ckey})
	require.Equal(t, http.StatusCreated, r2.StatusCode, u2)
	require.Equal(t, u1["id"], u2["id"])
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM uploads"))
	req["size"] = 2000
	r3, u3 := b.callWith(t, http.MethodPost, "/api/v1/cases/"+caseID+"/uploads", b.staffA, req, map[string]string{"Idempotency-Key": ckey})
	require.Equal(t, http.StatusUnprocessableEntity, r3.StatusCode, u3)
}

// callWith is call with extra headers.
func (b *filesBundle) callWith(t *testing.T, method, path, token string, body any, headers map[string]string) (*http.Response, map[string]any) {
	t.Helper()
	js, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(method, b.srv.URL+path, bytes.NewReader(js))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return do(t, req)
}

func TestContentRange(t *testing.T) {
	t.Parallel()
	b := setupFiles(t)
	caseID := b.newCase(t)
	ct := testfile(t, "CT_small.dcm")
	_, body := b.upload(t, b.staffA, caseID, nil, filePart("ct.dcm", ct))
	f := results(t, body)["ct.dcm"]["file"].(map[string]any)
	url := f["content_url"].(string)
	before := b.count(t, "SELECT (SELECT coalesce(sum(coalesce((details->>'reads')::int, 1)), 0) FROM audit_events WHERE action = 'file.download') + (SELECT count(*) FROM audit_reads WHERE action = 'file.download')")

	resp, all := b.get(t, url, b.gpA, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, ct, all)
	require.Equal(t, `"`+sha256hex(ct)+`"`, resp.Header.Get("ETag"))
	require.Equal(t, "application/dicom", resp.Header.Get("Content-Type"))
	require.Equal(t, "bytes", resp.Header.Get("Accept-Ranges"))
	require.Equal(t, "attachment; filename=ct.dcm", resp.Header.Get("Content-Disposition"))

	for rng, want := range map[string][2]int{
		"bytes=128-131": {128, 132},
		"bytes=1000-":   {1000, len(ct)},
		"bytes=-16":     {len(ct) - 16, len(ct)},
		"bytes=0-0":     {0, 1},
		"bytes=5-99999": {5, len(ct)},
	} {
		resp, part := b.get(t, url, b.staffA, map[string]string{"Range": rng})
		require.Equal(t, http.StatusPartialContent, resp.StatusCode, rng)
		require.Equal(t, ct[want[0]:want[1]], part, rng)
		require.Equal(t, "bytes "+itoa(want[0])+"-"+itoa(want[1]-1)+"/"+itoa(len(ct)), resp.Header.Get("Content-Range"), rng)
	}
	require.Equal(t, "DICM", string(func() []byte { _, p := b.get(t, url, b.staffA, map[string]string{"Range": "bytes=128-131"}); return p }()))

	resp, _ = b.get(t, url, b.staffA, map[string]string{"Range": "bytes=999999-"})
	require.Equal(t, http.StatusRequestedRangeNotSatisfiable, resp.StatusCode)
	require.Equal(t, "bytes */"+itoa(len(ct)), resp.Header.Get("Content-Range"))
	resp, full := b.get(t, url, b.staffA, map[string]string{"Range": "bytes=0-1,5-6"})
	require.Equal(t, http.StatusOK, resp.StatusCode, "several ranges: the whole file")
	require.Equal(t, ct, full)
	resp, _ = b.get(t, url, b.staffA, map[string]string{"If-None-Match": `"` + sha256hex(ct) + `"`})
	require.Equal(t, http.StatusNotModified, resp.StatusCode)

	require.Equal(t, before+8, b.count(t, "SELECT (SELECT coalesce(sum(coalesce((details->>'reads')::int, 1)), 0) FROM audit_events WHERE action = 'file.download') + (SELECT count(*) FROM audit_reads WHERE action = 'file.download')"),
		"every download is audited")
}

func TestPreviewRoutes(t *testing.T) {
	t.Parallel()
	b := setupFiles(t)
	ctx := context.Background()
	caseID := b.newCase(t)
	_, body := b.upload(t, b.staffA, caseID, nil, filePart("ct.dcm", testfile(t, "CT_small.dcm")),
		filePart("nm.dcm", testfile(t, "JPEG2000.dcm")), filePart("photo.jpg", testfile(t, "retina.jpg")))
	res := results(t, body)
	ids := map[string]string{}
	for name, r := range res {
		ids[name] = r["file"].(map[string]any)["id"].(string)
	}

	resp, pb := b.call(t, http.MethodGet, "/api/v1/files/"+ids["ct.dcm"]+"/thumbnail", b.staffA, nil)
	require.Equal(t, http.StatusConflict, resp.StatusCode, pb)
	require.Contains(t, pb["detail"], "still being rendered")
	require.NotEmpty(t, resp.Header.Get("Retry-After"))

	for _, id := range ids {
		require.NoError(t, b.intake.RenderPreviews(ctx, uuid.MustParse(id)))
	}
	for name, want := range map[string][2]string{"ct.dcm": {"image/jpeg", "image/png"}, "photo.jpg": {"image/jpeg", "image/jpeg"}} {
		resp, thumb := b.get(t, "/api/v1/files/"+ids[name]+"/thumbnail", b.gpA, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, name)
		require.Equal(t, want[0], resp.Header.Get("Content-Type"))
		require.NotEmpty(t, thumb)
		resp, prev := b.get(t, "/api/v1/files/"+ids[name]+"/preview", b.gpA, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, name)
		require.Equal(t, want[1], resp.Header.Get("Content-Type"))
		require.NotEmpty(t, prev)
	}
	resp, pb = b.call(t, http.MethodGet, "/api/v1/files/"+ids["nm.dcm"]+"/preview", b.staffA, nil)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, pb)
	require.Contains(t, pb["detail"], "preview not available: JPEG 2000")
	_, f := b.call(t, http.MethodGet, "/api/v1/files/"+ids["ct.dcm"], b.staffA, nil)
	require.Equal(t, "ready", f["preview"].(map[string]any)["status"])
	require.Equal(t, 2, b.count(t, "SELECT (SELECT coalesce(sum(coalesce((details->>'reads')::int, 1)), 0) FROM audit_events WHERE action = 'file.preview') + (SELECT count(*) FROM audit_reads WHERE action = 'file.preview')"))
	require.Equal(t, 2, b.count(t, "SELECT (SELECT coalesce(sum(coalesce((details->>'reads')::int, 1)), 0) FROM audit_events WHERE action = 'file.thumbnail') + (SELECT count(*) FROM audit_reads WHERE action = 'file.thumbnail')"))
}

func TestFileRoutesTenancy(t *testing.T) {
	t.Parallel()
	b := setupFiles(t)
	caseID := b.newCase(t)
	_, body := b.upload(t, b.staffA, caseID, nil, filePart("ct.dcm", testfile(t, "CT_small.dcm")))
	fileID := results(t, body)["ct.dcm"]["file"].(map[string]any)["id"].(string)
	require.NoError(t, b.intake.RenderPreviews(context.Background(), uuid.MustParse(fileID)))
	resp, up := b.call(t, http.MethodPost, "/api/v1/cases/"+caseID+"/uploads", b.staffA, map[string]any{
		"filename": "x.dcm", "size": 10, "sha256": sha256hex([]byte("0123456789")), "content_type": "application/dicom"})
	require.Equal(t, http.StatusCreated, resp.StatusCode, up)
	uploadID := up["id"].(string)
	audits := b.count(t, "SELECT (SELECT coalesce(sum(coalesce((details->>'reads')::int, 1)), 0) FROM audit_events) + (SELECT count(*) FROM audit_reads)")

	for _, token := range []string{b.staffB, b.adminB, b.siteB.Tokens[identity.RoleReferringPhysician],
		b.readers.Tokens[identity.RoleSpecialist]} {
		for _, tc := range []struct{ method, path string }{
			{http.MethodGet, "/api/v1/cases/" + caseID + "/files"},
			{http.MethodGet, "/api/v1/cases/" + caseID + "/studies"},
			{http.MethodGet, "/api/v1/files/" + fileID},
			{http.MethodGet, "/api/v1/files/" + fileID + "/content"},
			{http.MethodGet, "/api/v1/files/" + fileID + "/preview"},
			{http.MethodGet, "/api/v1/files/" + fileID + "/thumbnail"},
		} {
			resp, body := b.call(t, tc.method, tc.path, token, nil)
			require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s %s: %v", tc.method, tc.path, body)
		}
		if token == b.staffB || token == b.siteB.Tokens[identity.RoleReferringPhysician] {
			resp, body := b.upload(t, token, caseID, nil, filePart("ct.dcm", testfile(t, "CT_small.dcm")))
			require.Equal(t, http.StatusNotFound, resp.StatusCode, body)
			resp, body = b.call(t, http.MethodPost, "/api/v1/cases/"+caseID+"/uploads", token, map[string]any{
				"filename": "x.dcm", "size": 10, "sha256": sha256hex([]byte("0123456789")), "content_type": "application/dicom"})
			require.Equal(t, http.StatusNotFound, resp.StatusCode, body)
			resp, body = b.call(t, http.MethodGet, "/api/v1/cases/"+caseID+"/uploads/"+uploadID, token, nil)
			require.Equal(t, http.StatusNotFound, resp.StatusCode, body)
			resp, body = b.call(t, http.MethodPost, "/api/v1/cases/"+caseID+"/uploads/"+uploadID+"/complete", token, nil)
			require.Equal(t, http.StatusNotFound, resp.StatusCode, body)
		}
	}
	require.Equal(t, audits, b.count(t, "SELECT (SELECT coalesce(sum(coalesce((details->>'reads')::int, 1)), 0) FROM audit_events) + (SELECT count(*) FROM audit_reads)"), "refused reads write nothing")
	require.Empty(t, b.objects(t, b.siteB.Org, ""))
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM files"))
}

func itoa(n int) string { return strconv.Itoa(n) }
