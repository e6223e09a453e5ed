package dicomweb_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/identity"
)

// The Orthanc of Debian 12 (packages orthanc and orthanc-dicomweb, which
// scripts/test-tools.sh installs) and where the DICOMweb plugin is.
const (
	orthancBin     = "/usr/sbin/Orthanc"
	orthancPlugins = "/usr/share/orthanc/plugins"
	dicomwebPlugin = orthancPlugins + "/libOrthancDicomWeb.so"
)

// needTool skips the test when a tool is missing, but fails it under CI
// (CI=true), where scripts/test-tools.sh must have installed it.
func needTool(t *testing.T, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	}
	msg := fmt.Sprintf("%s not found: install Debian package %s (scripts/test-tools.sh does it as root)", path, pkg)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// freePort is a loopback TCP port free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// orthanc is a private Orthanc: its own storage in a temp dir, no DICOM
// server, HTTP on a loopback port (Debian's 1.10.1 cannot bind one
// address: it listens on all interfaces, but with RemoteAccessAllowed
// false it refuses every client that is not local).
type orthanc struct {
	url string
	log string
}

// startOrthanc starts Orthanc with the DICOMweb plugin and one DICOMweb
// server entry, "teleread", for serverURL with Basic credentials.
func startOrthanc(t *testing.T, serverURL, user, password string) *orthanc {
	t.Helper()
	needTool(t, orthancBin, "orthanc")
	needTool(t, dicomwebPlugin, "orthanc-dicomweb")
	dir := t.TempDir()
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		port := freePort(t)
		cfg := map[string]any{
			"Name":                  "teleread-interop",
			"StorageDirectory":      filepath.Join(dir, "storage"),
			"IndexDirectory":        filepath.Join(dir, "index"),
			"HttpPort":              port,
			"RemoteAccessAllowed":   false,
			"AuthenticationEnabled": false,
			"DicomServerEnabled":    false,
			"HttpTimeout":           30,
			"Plugins":               []string{orthancPlugins},
			"DicomWeb": map[string]any{
				"Enable": true, "Root": "/dicom-web/",
				"Servers": map[string]any{
					"teleread": map[string]any{"Url": serverURL, "Username": user, "Password": password},
				},
			},
		}
		js, err := json.MarshalIndent(cfg, "", "  ")
		require.NoError(t, err)
		cfgPath := filepath.Join(dir, "orthanc.json")
		require.NoError(t, os.WriteFile(cfgPath, js, 0o600))
		logPath := filepath.Join(dir, fmt.Sprintf("orthanc-%d.log", attempt))
		logf, err := os.Create(logPath)
		require.NoError(t, err)
		cmd := exec.Command(orthancBin, cfgPath)
		cmd.Stdout, cmd.Stderr, cmd.Dir = logf, logf, dir
		// Orthanc's HTTP client is libcurl, which honours proxy variables:
		// its requests to Teleread on 127.0.0.1 must go straight there.
		cmd.Env = append(withoutProxy(os.Environ()), "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
		require.NoError(t, cmd.Start())
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait(); logf.Close() }()
		o := &orthanc{url: fmt.Sprintf("http://127.0.0.1:%d", port), log: logPath}
		if last = o.waitReady(exited); last == nil {
			t.Cleanup(func() {
				_ = cmd.Process.Signal(os.Interrupt)
				select {
				case <-exited:
				case <-time.After(10 * time.Second):
					_ = cmd.Process.Kill()
					<-exited
				}
				if t.Failed() {
					o.dumpLog(t)
				}
			})
			return o
		}
		_ = cmd.Process.Kill()
		<-exited
		o.dumpLog(t)
	}
	t.Fatalf("Orthanc did not start: %v", last)
	return nil
}

func withoutProxy(env []string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToLower(k) {
		case "http_proxy", "https_proxy", "all_proxy", "no_proxy":
			continue
		}
		out = append(out, kv)
	}
	return out
}

func (o *orthanc) waitReady(exited chan error) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("orthanc exited: %v", err)
		default:
		}
		resp, err := http.Get(o.url + "/system")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("no answer from %s/system in 20s", o.url)
}

func (o *orthanc) dumpLog(t *testing.T) {
	raw, _ := os.ReadFile(o.log)
	if len(raw) > 8000 {
		raw = raw[len(raw)-8000:]
	}
	t.Logf("Orthanc log (%s), last bytes:\n%s", o.log, raw)
}

// call is an Orthanc REST call; want is the expected status.
func (o *orthanc) call(t *testing.T, method, path string, body []byte, want int) []byte {
	t.Helper()
	req, err := http.NewRequest(method, o.url+path, bytes.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, want, resp.StatusCode, "Orthanc %s %s: %s", method, path, raw)
	return raw
}

func (o *orthanc) json(t *testing.T, method, path string, body any, out any) {
	t.Helper()
	var js []byte
	if body != nil {
		var err error
		js, err = json.Marshal(body)
		require.NoError(t, err)
	}
	raw := o.call(t, method, path, js, http.StatusOK)
	if out != nil {
		require.NoError(t, json.Unmarshal(raw, out), string(raw))
	}
}

// studies maps Study Instance UID to Orthanc's study id.
func (o *orthanc) studies(t *testing.T) map[string]string {
	t.Helper()
	var ids []string
	o.json(t, http.MethodGet, "/studies", nil, &ids)
	out := map[string]string{}
	for _, id := range ids {
		var st struct {
			MainDicomTags map[string]string
		}
		o.json(t, http.MethodGet, "/studies/"+id, nil, &st)
		out[st.MainDicomTags["StudyInstanceUID"]] = id
	}
	return out
}

// files are the stored bytes of a study's instances by SHA-256.
func (o *orthanc) files(t *testing.T, studyID string) map[string][]byte {
	t.Helper()
	var inst []struct{ ID string }
	o.json(t, http.MethodGet, "/studies/"+studyID+"/instances", nil, &inst)
	out := map[string][]byte{}
	for _, in := range inst {
		raw := o.call(t, http.MethodGet, "/instances/"+in.ID+"/file", nil, http.StatusOK)
		out[sha(raw)] = raw
	}
	return out
}

func keys(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// interopFiles: both studies of Doe^Archibald (77654033), MIT: three CR
// instances in three series, four CT instances in one series.
var interopFiles = append(append([]string{}, studyFiles...), ctFiles...)

// TestOrthancInterop pushes studies from a real Orthanc to Teleread with
// Orthanc's own DICOMweb client (STOW-RS), checks Teleread's WADO-RS
// gives back every instance byte for byte, then deletes the studies in
// Orthanc and pulls them back from Teleread with Orthanc's DICOMweb
// client (WADO-RS), and checks Orthanc holds identical bytes again.
func TestOrthancInterop(t *testing.T) {
	t.Parallel()
	start := time.Now()
	b := newStowBed(t)
	token := b.siteA.Tokens[identity.RoleSiteStaff]
	caseRoot := b.srv.URL + "/dicomweb/cases/" + b.caseA
	o := startOrthanc(t, caseRoot+"/", "orthanc", token)
	t.Logf("Orthanc ready at %s after %v", o.url, time.Since(start))

	want := map[string][]byte{}
	for _, f := range interopFiles {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		want[sha(raw)] = raw
		var ans struct{ Status string }
		require.NoError(t, json.Unmarshal(o.call(t, http.MethodPost, "/instances", raw, http.StatusOK), &ans))
		require.Equal(t, "Success", ans.Status, f)
	}
	studies := o.studies(t)
	require.Len(t, studies, 2)
	held := map[string]map[string][]byte{} // study UID -> Orthanc's bytes
	for uid, id := range studies {
		held[uid] = o.files(t, id)
	}

	// STOW-RS by Orthanc's client.
	pushed := time.Now()
	for uid, id := range studies {
		var ans map[string]any
		o.json(t, http.MethodPost, "/dicom-web/servers/teleread/stow",
			map[string]any{"Resources": []string{id}, "Synchronous": true}, &ans)
		require.EqualValues(t, fmt.Sprint(len(held[uid])), fmt.Sprint(ans["InstancesCount"]), "%v", ans)
	}
	t.Logf("STOW-RS of %d studies by Orthanc: %v", len(studies), time.Since(pushed))
	require.Equal(t, len(interopFiles), b.fileRows(t, b.caseA))

	// WADO-RS: every instance, byte-identical to what Orthanc holds.
	var oneInstance []byte
	for uid := range studies {
		req, _ := http.NewRequest(http.MethodGet, caseRoot+"/studies/"+uid, nil)
		req.Header.Set("Authorization", basic(token))
		req.Header.Set("Accept", `multipart/related; type="application/dicom"`)
		got := wadoInstances(t, req)
		require.Equal(t, keys(held[uid]), keys(got), "study %s", uid)
		for _, v := range got {
			oneInstance = v
		}
	}
	all := map[string][]byte{}
	for _, h := range held {
		for k, v := range h {
			all[k] = v
		}
	}
	require.Equal(t, keys(want), keys(all), "Orthanc stored the files unchanged")

	// QIDO-RS lists every study, at the case's root and the site's, with
	// as many instances as Orthanc holds; Orthanc's own client asks too.
	for _, root := range []string{caseRoot, b.srv.URL + "/dicomweb"} {
		req, _ := http.NewRequest(http.MethodGet, root+"/studies?includefield=all", nil)
		req.Header.Set("Authorization", basic(token))
		req.Header.Set("Accept", "application/dicom+json")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode, "%s", body)
		require.Equal(t, qidoCounts(t, body), studyCounts(held), root)
	}
	var viaOrthanc json.RawMessage
	o.json(t, http.MethodPost, "/dicom-web/servers/teleread/get", map[string]any{"Uri": "/studies"}, &viaOrthanc)
	require.Equal(t, studyCounts(held), qidoCounts(t, viaOrthanc), "QIDO-RS through Orthanc's client")

	// Delete the studies in Orthanc, pull them back from Teleread.
	for _, id := range studies {
		o.call(t, http.MethodDelete, "/studies/"+id, nil, http.StatusOK)
	}
	require.Empty(t, o.studies(t))
	pulled := time.Now()
	for uid := range studies {
		var ans map[string]any
		o.json(t, http.MethodPost, "/dicom-web/servers/teleread/retrieve",
			map[string]any{"Resources": []map[string]string{{"Study": uid}}}, &ans)
		t.Logf("retrieve %s: %v", uid, ans)
		require.Equal(t, fmt.Sprint(len(held[uid])), fmt.Sprint(ans["ReceivedInstancesCount"]), "%v", ans)
	}
	t.Logf("WADO-RS retrieve of %d studies by Orthanc: %v", len(studies), time.Since(pulled))
	back := o.studies(t)
	require.Len(t, back, len(studies))
	for uid, id := range back {
		require.Contains(t, held, uid)
		require.Equal(t, keys(held[uid]), keys(o.files(t, id)), "study %s pulled back byte-identical", uid)
	}

	// dcmtk reads an instance WADO-RS returned.
	if _, err := exec.LookPath("dcmdump"); err != nil {
		needTool(t, "/usr/bin/dcmdump", "dcmtk")
	}
	path := filepath.Join(t.TempDir(), "instance.dcm")
	require.NoError(t, os.WriteFile(path, oneInstance, 0o600))
	out, err := exec.Command("dcmdump", "-q", "+P", "0008,0018", "+P", "0010,0020", path).CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "SOPInstanceUID")
	require.Contains(t, string(out), "[77654033]")
	require.NotContains(t, strings.ToLower(string(out)), "error")

	elapsed := time.Since(start)
	t.Logf("TestOrthancInterop: %v", elapsed)
	require.Less(t, elapsed, time.Minute)
}

// qidoCounts reads a QIDO-RS study answer as Study Instance UID to
// NumberOfStudyRelatedInstances.
func qidoCounts(t *testing.T, body []byte) map[string]int {
	t.Helper()
	var studies []map[string]struct {
		Value []any
	}
	require.NoError(t, json.Unmarshal(body, &studies), "%s", body)
	out := map[string]int{}
	for _, st := range studies {
		uid, n := st["0020000D"].Value, st["00201208"].Value
		require.Len(t, uid, 1, "%s", body)
		require.Len(t, n, 1, "%s", body)
		out[fmt.Sprint(uid[0])] = int(n[0].(float64))
	}
	return out
}

// studyCounts is the number of instances of each study in held.
func studyCounts(held map[string]map[string][]byte) map[string]int {
	out := map[string]int{}
	for uid, files := range held {
		out[uid] = len(files)
	}
	return out
}
