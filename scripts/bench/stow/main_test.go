package main

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/dicomfile"
)

func TestParseOptions(t *testing.T) {
	t.Parallel()
	o, err := parseOptions(nil, io.Discard)
	require.NoError(t, err)
	require.Equal(t, []string{"teleread", "orthanc", "raw"}, o.pathList())
	require.Equal(t, []sizeSpec{{"ct", 2000, 32}, {"large", 500, 512}}, o.sizes())

	o, err = parseOptions([]string{"-orthanc=false", "-n-ct", "0"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, []string{"teleread", "raw"}, o.pathList())
	require.False(t, o.has(pathOrthanc))
	require.Len(t, o.sizes(), 1)

	for _, args := range [][]string{{"-paths", "teleread,ftp"}, {"-paths", "raw,raw"}, {"-batch", "0"}, {"-n-ct", "0", "-n-large", "0"}, {"extra"}} {
		_, err := parseOptions(args, io.Discard)
		require.Error(t, err, args)
	}
}

func TestMakeInstances(t *testing.T) {
	t.Parallel()
	opts, err := parseOptions([]string{"-batch", "2", "-per-study", "3", "-warmup", "1"}, io.Discard)
	require.NoError(t, err)
	root, err := filepath.Abs("../../..")
	require.NoError(t, err)
	set, err := makeInstances(root, opts, sizeSpec{name: "ct", n: 5, kb: 32})
	require.NoError(t, err)
	require.Equal(t, 2, set.studies)
	require.Len(t, set.timed, 5)
	// Study 0: 2+1, study 1: 2; the warm-up study: one request of 2.
	require.Len(t, set.timedReqs, 3)
	require.Equal(t, []int{0, 0, 1}, []int{set.timedReqs[0].study, set.timedReqs[1].study, set.timedReqs[2].study})
	require.Len(t, set.warmReqs, 1)
	require.Equal(t, 2, set.warmInstances())
	require.Equal(t, 2, set.warmReqs[0].study)
	require.NotEmpty(t, set.patientID)
	require.Regexp(t, `^\d{4}-\d{2}-\d{2}$`, set.birthDate)

	mt, params, err := mime.ParseMediaType(contentType())
	require.NoError(t, err)
	require.Equal(t, "multipart/related", mt)
	require.Equal(t, "application/dicom", params["type"])
	uids := map[string]bool{}
	for _, r := range set.timedReqs {
		mr := multipart.NewReader(bytes.NewReader(r.body), params["boundary"])
		for i := 0; ; i++ {
			p, err := mr.NextPart()
			if err == io.EOF {
				require.Equal(t, len(r.files), i)
				break
			}
			require.NoError(t, err)
			require.Equal(t, "application/dicom", p.Header.Get("Content-Type"))
			b, err := io.ReadAll(p)
			require.NoError(t, err)
			require.Equal(t, r.files[i].data, b)
			h, err := dicomfile.ReadHeader(bytes.NewReader(b), int64(len(b)))
			require.NoError(t, err)
			require.Equal(t, r.files[i].uid, h.SOPInstanceUID)
			uids[h.SOPInstanceUID] = true
		}
	}
	require.Len(t, uids, 5)
}

func TestCheckStoreResponse(t *testing.T) {
	t.Parallel()
	r := stowRequest{files: []instance{{uid: "1.2.3"}, {uid: "1.2.4"}}}
	item := func(uid string) map[string]any {
		return map[string]any{"00081155": map[string]any{"vr": "UI", "Value": []string{uid}}}
	}
	answer := func(refs, failed []map[string]any) []byte {
		ds := map[string]any{}
		if refs != nil {
			ds["00081199"] = map[string]any{"vr": "SQ", "Value": refs}
		}
		if failed != nil {
			ds["00081198"] = map[string]any{"vr": "SQ", "Value": failed}
		}
		b, _ := json.Marshal(ds)
		return b
	}
	require.NoError(t, checkStoreResponse(answer([]map[string]any{item("1.2.4"), item("1.2.3")}, nil), r))
	require.ErrorContains(t, checkStoreResponse(answer([]map[string]any{item("1.2.3")}, []map[string]any{item("1.2.4")}), r), "failed")
	require.ErrorContains(t, checkStoreResponse(answer([]map[string]any{item("1.2.3")}, nil), r), "lists 1")
	require.ErrorContains(t, checkStoreResponse(answer([]map[string]any{item("1.2.3"), item("1.2.3")}, nil), r), "twice")
	require.Error(t, checkStoreResponse([]byte("[]"), r))
}

func TestOrthancConfig(t *testing.T) {
	t.Parallel()
	p, err := pickPlugin("/usr/lib/orthanc/libOrthancDicomWeb.so.1.7\n/usr/share/orthanc/plugins/libOrthancDicomWeb.so\n/usr/share/doc/x\n")
	require.NoError(t, err)
	require.Equal(t, "/usr/share/orthanc/plugins/libOrthancDicomWeb.so", p)
	_, err = pickPlugin("/usr/share/doc/x\n")
	require.Error(t, err)

	b, err := orthancConfig("/tmp/o", 4242, p)
	require.NoError(t, err)
	var cfg map[string]any
	require.NoError(t, json.Unmarshal(b, &cfg))
	require.Equal(t, false, cfg["RemoteAccessAllowed"])
	require.Equal(t, false, cfg["DicomServerEnabled"])
	require.Equal(t, false, cfg["AuthenticationEnabled"])
	require.Equal(t, float64(4242), cfg["HttpPort"])
	require.Equal(t, "/tmp/o/index", cfg["IndexDirectory"])
	require.Equal(t, []any{p}, cfg["Plugins"])
}

func TestRatios(t *testing.T) {
	t.Parallel()
	s := sizeResult{Phases: []phaseResult{{Path: pathTeleread, InstancesPerSec: 50}, {Path: pathRaw, InstancesPerSec: 200}}}
	s.finish()
	require.InDelta(t, 0.25, *s.TelereadOverRaw, 1e-9)
	require.Nil(t, s.TelereadOverOrthanc)
	var buf bytes.Buffer
	writeTable(&buf, &results{Sizes: []sizeResult{s}})
	require.Contains(t, buf.String(), "teleread/raw 0.25")
}
