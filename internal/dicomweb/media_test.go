package dicomweb

import "testing"

func TestParseMediaType(t *testing.T) {
	for _, tc := range []struct{ in, mt, ty, ts string }{
		{`multipart/related; type="application/dicom"`, "multipart/related", "application/dicom", ""},
		{`multipart/related; type=application/dicom; boundary=abc`, "multipart/related", "application/dicom", ""},
		{`multipart/related; type=application/octet-stream; transfer-syntax=*`, "multipart/related", "application/octet-stream", "*"},
		{`multipart/related;type=image/jp2;transfer-syntax=1.2.840.10008.1.2.4.91`, "multipart/related", "image/jp2", "1.2.840.10008.1.2.4.91"},
	} {
		mt, ps, err := parseMediaType(tc.in)
		if err != nil || mt != tc.mt || ps["type"] != tc.ty || ps["transfer-syntax"] != tc.ts {
			t.Errorf("%s: %q %v %v", tc.in, mt, ps, err)
		}
	}
	for _, bad := range []string{"", "multipart/", `multipart/related; type="unterminated`} {
		if _, _, err := parseMediaType(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
