package dicomweb

import (
	"mime"
	"strings"
)

// parseMediaType is mime.ParseMediaType, tolerant of what DICOMweb
// clients send: PS3.18's own examples quote the type parameter
// (multipart/related; type="application/dicom"), but many clients and
// viewers leave it bare (type=application/dicom), which RFC 9110 does not
// allow (a "/" is not a token character) and Go refuses. A value that is
// not quoted is quoted and the header parsed again.
func parseMediaType(v string) (string, map[string]string, error) {
	mt, params, err := mime.ParseMediaType(v)
	if err == nil {
		return mt, params, nil
	}
	parts := strings.Split(v, ";")
	for i := 1; i < len(parts); i++ {
		k, val, ok := strings.Cut(parts[i], "=")
		val = strings.TrimSpace(val)
		if !ok || val == "" || strings.HasPrefix(val, `"`) || strings.ContainsAny(val, `"\`) {
			continue
		}
		parts[i] = k + `="` + val + `"`
	}
	if mt2, params2, err2 := mime.ParseMediaType(strings.Join(parts, ";")); err2 == nil {
		return mt2, params2, nil
	}
	return mt, params, err
}
