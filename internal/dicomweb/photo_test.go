package dicomweb_test

import (
	"bytes"
	"encoding/json"
	"image/jpeg"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/dicomfile"
	"github.com/teleread/teleread/internal/identity"
)

const (
	photoJPEG = "../intake/testdata/retina.jpg"
	// photoPNG is a clinical photo that is not JPEG, carried as native
	// pixels.
	photoPNG = "../photo/testdata/ihc.png"
)

// uploadPhoto adds a photo to caseID through the REST API, as site staff.
func (b *authzBed) uploadPhoto(t *testing.T, caseID, file, query string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	ct := "image/jpeg"
	if strings.HasSuffix(file, ".png") {
		ct = "image/png"
	}
	resp, raw := b.do(t, http.MethodPost, "/api/v1/cases/"+caseID+"/files?filename="+filepath.Base(file)+"&"+query,
		b.siteA.Tokens[identity.RoleSiteStaff], bytes.NewReader(data), ct)
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(raw))
	var out struct {
		Files []struct {
			File struct {
				ID string `json:"id"`
			} `json:"file"`
		} `json:"files"`
	}
	require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	require.Len(t, out.Files, 1, string(raw))
	return out.Files[0].File.ID
}

// TestPhotoStudy: the photos of a case are a study of DICOM VL
// Photographic (clinical, XC) and Dermoscopic Photography (DMS) images
// that QIDO-RS lists and WADO-RS serves like any other, the same bytes
// each time.
func TestPhotoStudy(t *testing.T) {
	t.Parallel()
	b := newAuthzBed(t)
	staff := b.siteA.Tokens[identity.RoleSiteStaff]
	dermID := b.uploadPhoto(t, b.caseA, photoJPEG, "body_site=left+forearm&dermoscopic=true")
	b.uploadPhoto(t, b.caseA, photoPNG, "body_site=back")

	// QIDO-RS: the study at both roots, with both modalities.
	var study string
	for _, root := range []string{"/dicomweb", "/dicomweb/cases/" + b.caseA} {
		status, a, raw := b.search(t, root+"/studies", url.Values{"PatientID": {"77654033"}, "includefield": {"all"}}, staff)
		require.Equal(t, http.StatusOK, status, raw)
		require.Len(t, a, 1, raw)
		study = a.first(0, "0020000D")
		require.True(t, strings.HasPrefix(study, "2.25."), study)
		require.Equal(t, "Doe^Archibald", a.first(0, "00100010"))
		require.Equal(t, "2", a.first(0, "00201208"), "instances in the study")
		var mods []string
		for _, v := range a[0]["00080061"].Value {
			var s string
			require.NoError(t, json.Unmarshal(v, &s))
			mods = append(mods, s)
		}
		sort.Strings(mods)
		require.Equal(t, []string{"DMS", "XC"}, mods)
	}
	status, a, raw := b.search(t, "/dicomweb/studies/"+study+"/series", nil, staff)
	require.Equal(t, http.StatusOK, status, raw)
	require.Len(t, a, 2, raw)
	status, a, raw = b.search(t, "/dicomweb/studies", url.Values{"ModalitiesInStudy": {"DMS"}}, staff)
	require.Equal(t, http.StatusOK, status, raw)
	require.Len(t, a, 1, raw)
	status, a, raw = b.search(t, "/dicomweb/studies/"+study+"/instances", nil, staff)
	require.Equal(t, http.StatusOK, status, raw)
	require.Len(t, a, 2, raw)
	classes := map[string]string{} // SOP Instance UID -> SOP Class UID
	series := map[string]string{}
	for i := range a {
		classes[a.first(i, "00080018")] = a.first(i, "00080016")
		series[a.first(i, "00080018")] = a.first(i, "0020000E")
	}
	dermUID := dicomfile.UIDFromUUID(mustUUID(t, dermID))
	require.Equal(t, dicomfile.DermoscopicPhotographyImageStorage, classes[dermUID])

	// WADO-RS: the study, twice the same bytes.
	get := func(path string, headers ...string) (*http.Response, []byte) {
		t.Helper()
		return (&metaBed{authzBed: b}).get(t, "/dicomweb"+path, staff, headers...)
	}
	resp, body := get("/studies/" + study)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	_, ps, objs := parts(t, resp, body)
	require.Len(t, objs, 2)
	resp2, body2 := get("/studies/" + study)
	_, _, objs2 := parts(t, resp2, body2)
	var derm []byte
	for i, obj := range objs {
		require.True(t, bytes.Equal(obj, objs2[i]), "part %d: the same bytes each time", i)
		h, err := dicomfile.ReadHeader(bytes.NewReader(obj), int64(len(obj)))
		require.NoError(t, err)
		require.Equal(t, study, h.StudyInstanceUID)
		require.Equal(t, classes[h.SOPInstanceUID], h.SOPClassUID)
		require.Contains(t, ps[i].Header.Get("Content-Type"), "transfer-syntax="+h.TransferSyntaxUID)
		if h.SOPInstanceUID == dermUID {
			derm = obj
			require.Equal(t, dicomfile.JPEGBaseline, h.TransferSyntaxUID)
			require.Equal(t, "DMS", h.Modality)
		} else {
			require.Equal(t, dicomfile.ExplicitVRLittleEndian, h.TransferSyntaxUID)
			require.Equal(t, "XC", h.Modality)
		}
	}
	require.NotNil(t, derm)
	dermPath := "/studies/" + study + "/series/" + series[dermUID] + "/instances/" + dermUID

	// Metadata: the coded body site and the pixel data by reference.
	resp, body = get(dermPath + "/metadata")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Contains(t, string(body), `"00082218"`, "Anatomic Region Sequence")
	require.Contains(t, string(body), "left forearm")
	require.Contains(t, string(body), dermPath+"/frames/1", "pixel data is retrieved by frame")

	// The frame is the JPEG as stored, which decodes.
	resp, body = get(dermPath+"/frames/1", "Accept", `multipart/related; type="image/jpeg"`)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	_, _, frames := parts(t, resp, body)
	require.Len(t, frames, 1)
	img, err := jpeg.Decode(bytes.NewReader(frames[0]))
	require.NoError(t, err)
	require.True(t, bytes.Contains(derm, frames[0]), "the frame is the encapsulated JPEG")

	// Rendered, to a viewport.
	resp, body = get(dermPath+"/rendered?viewport=200,200", "Accept", "image/jpeg")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	r, err := jpeg.Decode(bytes.NewReader(body))
	require.NoError(t, err)
	require.LessOrEqual(t, r.Bounds().Dx(), 200)
	require.True(t, r.Bounds().Dx() == 200 || r.Bounds().Dy() == 200, "fits the viewport: %v", r.Bounds())
	require.Equal(t, img.Bounds().Dx() >= img.Bounds().Dy(), r.Bounds().Dx() >= r.Bounds().Dy(), "keeps the aspect")

	// dcmtk reads the generated objects.
	dcmdump(t, derm)

	// Another tenant, and a specialist of a group the case is not routed
	// to, do not see it.
	for _, tok := range []string{b.siteB.Tokens[identity.RoleSiteStaff], b.readers.Tokens[identity.RoleSpecialist]} {
		resp, _ := (&metaBed{authzBed: b}).get(t, "/dicomweb"+dermPath, tok)
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
		status, a, _ := b.search(t, "/dicomweb/studies", url.Values{"StudyInstanceUID": {study}}, tok)
		require.True(t, status == http.StatusNoContent || (status == http.StatusOK && len(a) == 0), "status %d", status)
	}
}

// dcmdump checks that dcmtk reads a DICOM object without complaint.
func dcmdump(t *testing.T, obj []byte) {
	t.Helper()
	if _, err := exec.LookPath("dcmdump"); err != nil {
		needTool(t, "/usr/bin/dcmdump", "dcmtk")
	}
	path := filepath.Join(t.TempDir(), "obj.dcm")
	require.NoError(t, os.WriteFile(path, obj, 0o600))
	out, err := exec.Command("dcmdump", "-E", path).CombinedOutput()
	require.NoError(t, err, string(out))
	for _, line := range strings.Split(string(out), "\n") {
		require.False(t, strings.HasPrefix(line, "W:") || strings.HasPrefix(line, "E:"), "dcmdump: %s", line)
	}
}

func mustUUID(t *testing.T, s string) uuid.UUID {
	t.Helper()
	u, err := uuid.Parse(s)
	require.NoError(t, err)
	return u
}
