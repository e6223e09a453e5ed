package dicomweb_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/dicomfile"
	"github.com/teleread/teleread/internal/identity"
)

// The instances of the metadata, frames and rendering tests, MIT, from
// internal/intake/testdata (see its README): a native 128×128 CT, an RLE
// RGB image of two frames, and a JPEG 2000 NM image.
const (
	fileCT   = "../intake/testdata/CT_small.dcm"
	fileRLE  = "../intake/testdata/SC_rgb_rle_2frame.dcm"
	fileJ2K  = "../intake/testdata/JPEG2000.dcm"
	acceptTS = `multipart/related; type="application/octet-stream"; transfer-syntax=*`
)

// metaBed is the authz bed with the test instances stored into site A's
// case by STOW-RS.
type metaBed struct {
	*authzBed
	staff string
	// paths are the instance paths (under a root) of each file, cases
	// the case of site A each is stored in.
	paths, cases map[string]string
}

func newMetaBed(t *testing.T) *metaBed {
	t.Helper()
	b := &metaBed{authzBed: newAuthzBed(t), paths: map[string]string{}, cases: map[string]string{}}
	b.staff = b.siteA.Tokens[identity.RoleSiteStaff]
	for _, f := range []string{fileCT, fileRLE, fileJ2K} {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		h, err := dicomfile.ReadHeader(bytes.NewReader(data), int64(len(data)))
		require.NoError(t, err)
		b.cases[f] = b.caseFor(t, h)
		body, ct := stowBody(t, f)
		resp, raw := b.do(t, http.MethodPost, "/dicomweb/cases/"+b.cases[f]+"/studies", b.staff, body, ct)
		require.Contains(t, []int{http.StatusOK, http.StatusAccepted}, resp.StatusCode, string(raw))
		require.NotContains(t, string(raw), "00081198", "nothing failed")
		b.paths[f] = "/studies/" + h.StudyInstanceUID + "/series/" + h.SeriesInstanceUID + "/instances/" + h.SOPInstanceUID
	}
	return b
}

// caseFor opens a draft case of site A for the patient of h.
func (b *metaBed) caseFor(t *testing.T, h *dicomfile.Header) string {
	t.Helper()
	birth := "1950-01-01"
	if d := h.PatientBirthDate; len(d) == 8 {
		birth = d[:4] + "-" + d[4:6] + "-" + d[6:]
	}
	name := strings.TrimSpace(strings.ReplaceAll(strings.SplitN(h.PatientName, "=", 2)[0], "^", " "))
	if name == "" {
		name = "Anonymous Patient"
	}
	js, _ := json.Marshal(map[string]any{
		"referring_physician_id": b.siteA.Users[identity.RoleReferringPhysician].ID, "specialty": "radiology",
		"priority": "routine", "clinical_question": "Findings?",
		"patient": map[string]any{"name": name, "birth_date": birth, "sex": "O", "mrn": h.PatientID},
	})
	resp, raw := b.do(t, http.MethodPost, "/api/v1/cases", b.staff, bytes.NewReader(js), "application/json")
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(raw))
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out))
	return out["id"].(string)
}

// get sends a GET with a bearer token and the given headers.
func (b *metaBed) get(t *testing.T, url, token string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	if strings.HasPrefix(url, "/") {
		url = b.srv.URL + url
	}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, raw
}

// parts splits a multipart/related answer.
func parts(t *testing.T, resp *http.Response, raw []byte) (string, []*multipart.Part, [][]byte) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/related", mt, string(raw))
	mr := multipart.NewReader(bytes.NewReader(raw), params["boundary"])
	var ps []*multipart.Part
	var bodies [][]byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		data, err := io.ReadAll(p)
		require.NoError(t, err)
		ps = append(ps, p)
		bodies = append(bodies, data)
	}
	return params["type"], ps, bodies
}

// pixelData is the Pixel Data value of a file.
func pixelData(t *testing.T, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	loc, _, err := dicomfile.LocateValue(bytes.NewReader(data), int64(len(data)), 0x7FE00010)
	require.NoError(t, err)
	return data[loc.Offset : loc.Offset+loc.Length]
}

type jsonAttr struct {
	VR          string            `json:"vr"`
	Value       []json.RawMessage `json:"Value"`
	BulkDataURI string
}

func TestMetadata(t *testing.T) {
	t.Parallel()
	b := newMetaBed(t)
	for _, root := range []string{"/dicomweb", "/dicomweb/cases/" + b.cases[fileCT]} {
		resp, raw := b.get(t, root+b.paths[fileCT]+"/metadata", b.staff, "Accept", "application/dicom+json")
		require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
		require.Equal(t, "application/dicom+json", resp.Header.Get("Content-Type"))
		var sets []map[string]jsonAttr
		require.NoError(t, json.Unmarshal(raw, &sets), string(raw))
		require.Len(t, sets, 1)
		ds := sets[0]
		require.JSONEq(t, `{"Alphabetic":"CompressedSamples^CT1"}`, string(ds["00100010"].Value[0]))
		require.Equal(t, "PN", ds["00100010"].VR)
		require.Equal(t, `"1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"`, string(ds["0020000D"].Value[0]))
		require.Equal(t, "US", ds["00280010"].VR)
		require.Equal(t, "128", string(ds["00280010"].Value[0]))
		require.NotContains(t, ds, "00020010", "no file meta")
		uri := ds["7FE00010"].BulkDataURI
		require.Equal(t, b.srv.URL+root+b.paths[fileCT]+"/bulkdata/7FE00010", uri)
		resp, px := b.get(t, uri, b.staff)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(px))
		require.Equal(t, "application/octet-stream", resp.Header.Get("Content-Type"))
		require.Equal(t, pixelData(t, fileCT), px)
	}

	// Encapsulated pixel data points at the frames.
	resp, raw := b.get(t, "/dicomweb"+b.paths[fileRLE]+"/metadata", b.staff)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	var sets []map[string]jsonAttr
	require.NoError(t, json.Unmarshal(raw, &sets))
	require.Equal(t, b.srv.URL+"/dicomweb"+b.paths[fileRLE]+"/frames/1,2", sets[0]["7FE00010"].BulkDataURI)

	// A study: one data set per instance.
	b.stowAll(t)
	resp, raw = b.get(t, "/dicomweb/studies/"+b.studyUID+"/metadata", b.staff)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	sets = nil
	require.NoError(t, json.Unmarshal(raw, &sets))
	require.Len(t, sets, len(studyFiles))
	seen := map[string]bool{}
	for _, ds := range sets {
		require.Contains(t, string(ds["00100010"].Value[0]), "Archibald")
		seen[string(ds["00080018"].Value[0])] = true
	}
	require.Len(t, seen, len(studyFiles))

	// The XML model is not served.
	resp, _ = b.get(t, "/dicomweb"+b.paths[fileCT]+"/metadata", b.staff, "Accept", `multipart/related; type="application/dicom+xml"`)
	require.Equal(t, http.StatusNotAcceptable, resp.StatusCode)
}

func TestFrames(t *testing.T) {
	t.Parallel()
	b := newMetaBed(t)

	// A native frame is the pixel data, as application/octet-stream.
	resp, raw := b.get(t, "/dicomweb"+b.paths[fileCT]+"/frames/1", b.staff, "Accept", `multipart/related; type="application/octet-stream"`)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	ty, ps, bodies := parts(t, resp, raw)
	require.Equal(t, "application/octet-stream", ty)
	require.Len(t, bodies, 1)
	require.Equal(t, pixelData(t, fileCT), bodies[0])
	require.Equal(t, "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1", ps[0].Header.Get("Content-Type"))
	// The same with the type left bare, as many clients send it (RFC 9110
	// wants it quoted; PS3.18's examples quote it).
	for _, accept := range []string{`multipart/related; type=application/octet-stream`,
		`multipart/related; type=application/octet-stream; transfer-syntax=*`} {
		resp, raw = b.get(t, "/dicomweb"+b.paths[fileCT]+"/frames/1", b.staff, "Accept", accept)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", accept, raw)
	}

	// Out of range, malformed.
	resp, raw = b.get(t, "/dicomweb"+b.paths[fileCT]+"/frames/2", b.staff)
	require.Equal(t, http.StatusNotFound, resp.StatusCode, string(raw))
	require.Contains(t, string(raw), "out of range")
	for _, bad := range []string{"0", "x", "1,,2", "-1"} {
		resp, raw = b.get(t, "/dicomweb"+b.paths[fileCT]+"/frames/"+bad, b.staff)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s: %s", bad, raw)
	}

	// RLE frames, compressed, as OHIF asks for them.
	data, err := os.ReadFile(fileRLE)
	require.NoError(t, err)
	resp, raw = b.get(t, "/dicomweb/cases/"+b.cases[fileRLE]+b.paths[fileRLE]+"/frames/2,1", b.staff, "Accept", acceptTS)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	ty, ps, bodies = parts(t, resp, raw)
	require.Equal(t, "application/octet-stream", ty)
	require.Len(t, bodies, 2)
	for i, n := range []int{2, 1} {
		want, err := dicomfile.ReadFrame(bytes.NewReader(data), int64(len(data)), n-1)
		require.NoError(t, err)
		require.Equal(t, want, bodies[i], "frame %d", n)
		require.Equal(t, "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.5", ps[i].Header.Get("Content-Type"))
	}
	require.NotEqual(t, bodies[0], bodies[1])
	resp, _ = b.get(t, "/dicomweb"+b.paths[fileRLE]+"/frames/3", b.staff, "Accept", acceptTS)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	// Insisting on uncompressed frames of compressed data: not transcoded.
	resp, raw = b.get(t, "/dicomweb"+b.paths[fileRLE]+"/frames/1", b.staff, "Accept", `multipart/related; type="application/octet-stream"`)
	require.Equal(t, http.StatusNotAcceptable, resp.StatusCode, string(raw))
	require.Contains(t, string(raw), "transfer-syntax")

	// JPEG 2000 frames are image/jp2.
	resp, raw = b.get(t, "/dicomweb"+b.paths[fileJ2K]+"/frames/1", b.staff, "Accept", acceptTS)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	_, ps, bodies = parts(t, resp, raw)
	require.Len(t, bodies, 1)
	require.Equal(t, "image/jp2; transfer-syntax=1.2.840.10008.1.2.4.91", ps[0].Header.Get("Content-Type"))
	require.NotEmpty(t, bodies[0])
}

func TestBulkDataRange(t *testing.T) {
	t.Parallel()
	b := newMetaBed(t)
	px := pixelData(t, fileCT)
	url := "/dicomweb" + b.paths[fileCT] + "/bulkdata/7FE00010"
	resp, raw := b.get(t, url, b.staff, "Range", "bytes=100-199")
	require.Equal(t, http.StatusPartialContent, resp.StatusCode, string(raw))
	require.Equal(t, fmt.Sprintf("bytes 100-199/%d", len(px)), resp.Header.Get("Content-Range"))
	require.Equal(t, px[100:200], raw)
	resp, raw = b.get(t, url, b.staff, "Range", "bytes=-10")
	require.Equal(t, http.StatusPartialContent, resp.StatusCode)
	require.Equal(t, px[len(px)-10:], raw)
	resp, raw = b.get(t, url, b.staff, "Range", fmt.Sprintf("bytes=%d-", len(px)))
	require.Equal(t, http.StatusRequestedRangeNotSatisfiable, resp.StatusCode, string(raw))
	require.Equal(t, fmt.Sprintf("bytes */%d", len(px)), resp.Header.Get("Content-Range"))

	// As multipart/related.
	resp, raw = b.get(t, url, b.staff, "Accept", `multipart/related; type="application/octet-stream"`)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	_, _, bodies := parts(t, resp, raw)
	require.Equal(t, [][]byte{px}, bodies)

	// Another element, one the file lacks, a malformed tag.
	resp, raw = b.get(t, "/dicomweb"+b.paths[fileCT]+"/bulkdata/00080016", b.staff)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "1.2.840.10008.5.1.4.1.1.2\x00", string(raw))
	resp, _ = b.get(t, "/dicomweb"+b.paths[fileCT]+"/bulkdata/00091099", b.staff)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, _ = b.get(t, "/dicomweb"+b.paths[fileCT]+"/bulkdata/7FE0001", b.staff)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func TestRendered(t *testing.T) {
	t.Parallel()
	b := newMetaBed(t)
	decode := func(resp *http.Response, raw []byte, ct string) image.Image {
		t.Helper()
		require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
		require.Equal(t, ct, resp.Header.Get("Content-Type"))
		var img image.Image
		var err error
		if ct == "image/png" {
			img, err = png.Decode(bytes.NewReader(raw))
		} else {
			img, err = jpeg.Decode(bytes.NewReader(raw))
		}
		require.NoError(t, err)
		return img
	}
	resp, raw := b.get(t, "/dicomweb"+b.paths[fileCT]+"/rendered?viewport=64,64&window=40,400,LINEAR", b.staff, "Accept", "image/jpeg")
	require.Equal(t, image.Rect(0, 0, 64, 64), decode(resp, raw, "image/jpeg").Bounds())
	resp, raw = b.get(t, "/dicomweb"+b.paths[fileCT]+"/rendered?viewport=200,100", b.staff)
	require.Equal(t, image.Rect(0, 0, 100, 100), decode(resp, raw, "image/jpeg").Bounds(), "fits, keeping the aspect")
	resp, raw = b.get(t, "/dicomweb"+b.paths[fileCT]+"/frames/1/rendered", b.staff, "Accept", "image/png")
	require.Equal(t, image.Rect(0, 0, 128, 128), decode(resp, raw, "image/png").Bounds())

	// The window changes the image.
	_, a := b.get(t, "/dicomweb"+b.paths[fileCT]+"/rendered?window=0,100", b.staff, "Accept", "image/png")
	_, c := b.get(t, "/dicomweb"+b.paths[fileCT]+"/rendered?window=1000,100", b.staff, "Accept", "image/png")
	require.NotEqual(t, a, c)

	// The second frame of the RLE image; a thumbnail of the study.
	resp, raw = b.get(t, "/dicomweb"+b.paths[fileRLE]+"/frames/2/rendered", b.staff)
	decode(resp, raw, "image/jpeg")
	study := b.paths[fileCT][:strings.Index(b.paths[fileCT], "/series/")]
	resp, raw = b.get(t, "/dicomweb"+study+"/thumbnail", b.staff)
	require.LessOrEqual(t, decode(resp, raw, "image/jpeg").Bounds().Dx(), 256)
	resp, raw = b.get(t, "/dicomweb"+b.paths[fileRLE]+"/thumbnail?viewport=32,32", b.staff)
	require.LessOrEqual(t, decode(resp, raw, "image/jpeg").Bounds().Dx(), 32)

	// Not decoded here, bad parameters, not acceptable.
	resp, raw = b.get(t, "/dicomweb"+b.paths[fileJ2K]+"/rendered", b.staff)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, string(raw))
	require.Contains(t, string(raw), "JPEG 2000")
	for _, q := range []string{"window=40", "window=40,0", "window=40,400,SIGMOID", "viewport=0,10", "viewport=a,b"} {
		resp, raw = b.get(t, "/dicomweb"+b.paths[fileCT]+"/rendered?"+q, b.staff)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s: %s", q, raw)
	}
	resp, _ = b.get(t, "/dicomweb"+b.paths[fileCT]+"/rendered", b.staff, "Accept", "image/gif")
	require.Equal(t, http.StatusNotAcceptable, resp.StatusCode)
	resp, _ = b.get(t, "/dicomweb"+b.paths[fileCT]+"/frames/2/rendered", b.staff)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// TestMetaRoutesScope: another tenant's instance is not found on every
// route of this file, and no credentials is 401.
func TestMetaRoutesScope(t *testing.T) {
	t.Parallel()
	b := newMetaBed(t)
	study := b.paths[fileCT][:strings.Index(b.paths[fileCT], "/series/")]
	series := b.paths[fileCT][:strings.Index(b.paths[fileCT], "/instances/")]
	var urls []string
	for _, root := range []string{"/dicomweb", "/dicomweb/cases/" + b.cases[fileCT]} {
		for _, p := range []string{study + "/metadata", series + "/metadata", b.paths[fileCT] + "/metadata",
			b.paths[fileCT] + "/bulkdata/7FE00010", b.paths[fileCT] + "/frames/1", b.paths[fileCT] + "/frames/1/rendered",
			b.paths[fileCT] + "/rendered", b.paths[fileCT] + "/thumbnail", series + "/thumbnail", study + "/thumbnail"} {
			urls = append(urls, root+p)
		}
	}
	for _, u := range urls {
		resp, raw := b.get(t, u, b.staff)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", u, raw)
		for who, token := range map[string]string{
			"site B staff":        b.siteB.Tokens[identity.RoleSiteStaff],
			"unrouted specialist": b.readers.Tokens[identity.RoleSpecialist],
		} {
			resp, raw := b.get(t, u, token)
			require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s as %s: %s", u, who, raw)
			require.NotContains(t, string(raw), "CompressedSamples")
		}
		resp, _ = b.get(t, u, "")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, u)
	}
}
