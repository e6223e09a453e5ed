package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// orthanc is a fresh, empty Orthanc started for the run: its index
// (SQLite) and storage in a temp directory, HTTP on a free loopback port,
// no DICOM server, no authentication, no remote access, the DICOMweb
// plugin loaded.
type orthanc struct {
	dir     string
	port    int
	baseURL string // http://127.0.0.1:port
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	version string // of Orthanc, from /system
	plugin  string // of the DICOMweb plugin, from /plugins/dicom-web
}

// orthancConfig is the configuration file of a run's Orthanc.
func orthancConfig(dir string, port int, plugin string) ([]byte, error) {
	cfg := map[string]any{
		"Name":                  "teleread-stow-bench",
		"StorageDirectory":      filepath.Join(dir, "storage"),
		"IndexDirectory":        filepath.Join(dir, "index"),
		"StorageCompression":    false,
		"HttpPort":              port,
		"HttpServerEnabled":     true,
		"DicomServerEnabled":    false,
		"RemoteAccessAllowed":   false,
		"AuthenticationEnabled": false,
		"SslEnabled":            false,
		"Plugins":               []string{plugin},
		"DicomWeb":              map[string]any{"Enable": true, "Root": "/dicom-web/", "EnableWado": false},
		"SaveJobs":              false,
		"LuaScripts":            []string{},
	}
	return json.MarshalIndent(cfg, "", "  ")
}

// findDICOMWebPlugin returns the DICOMweb plugin's path from the
// orthanc-dicomweb package's file list.
func findDICOMWebPlugin(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "dpkg", "-L", "orthanc-dicomweb").Output()
	if err != nil {
		return "", fmt.Errorf("dpkg -L orthanc-dicomweb: %w (install orthanc and orthanc-dicomweb, give -orthanc-plugin, or run with -orthanc=false)", err)
	}
	return pickPlugin(string(out))
}

// pickPlugin picks the plugin from a dpkg -L listing: the .so under a
// plugins directory, else any libOrthancDicomWeb.so*.
func pickPlugin(listing string) (string, error) {
	var any string
	for line := range strings.Lines(listing) {
		p := strings.TrimSpace(line)
		base := filepath.Base(p)
		if !strings.HasPrefix(base, "libOrthancDicomWeb.so") {
			continue
		}
		if strings.Contains(p, "/plugins/") {
			return p, nil
		}
		if any == "" {
			any = p
		}
	}
	if any == "" {
		return "", errors.New("orthanc-dicomweb lists no libOrthancDicomWeb.so")
	}
	return any, nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startOrthanc writes the configuration into dir and starts Orthanc on it,
// waiting until /system answers.
func startOrthanc(ctx context.Context, bin, plugin, dir string) (*orthanc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	o := &orthanc{dir: dir, port: port, baseURL: fmt.Sprintf("http://127.0.0.1:%d", port), logPath: filepath.Join(dir, "orthanc.log")}
	for _, d := range []string{"storage", "index"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	cfg, err := orthancConfig(dir, port, plugin)
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "orthanc.json")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		return nil, err
	}
	logFile, err := os.Create(o.logPath)
	if err != nil {
		return nil, err
	}
	// Not CommandContext: on Ctrl-C Orthanc gets a SIGTERM at cleanup.
	o.cmd = exec.Command(bin, cfgPath)
	o.cmd.Dir = dir
	o.cmd.Stdout, o.cmd.Stderr = logFile, logFile
	if err := o.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	o.exited = make(chan struct{})
	go func() {
		_ = o.cmd.Wait()
		logFile.Close()
		close(o.exited)
	}()

	deadline := time.Now().Add(60 * time.Second)
	for {
		var sys struct{ Version string }
		err := o.getJSON(ctx, "/system", &sys)
		if err == nil {
			o.version = sys.Version
			var pl struct{ Version string }
			if err := o.getJSON(ctx, "/plugins/dicom-web", &pl); err != nil {
				return o, fmt.Errorf("orthanc has no DICOMweb plugin (%w)\n%s", err, o.logTail())
			}
			o.plugin = pl.Version
			return o, nil
		}
		select {
		case <-ctx.Done():
			return o, ctx.Err()
		case <-o.exited:
			return o, fmt.Errorf("orthanc exited at start: %s\n%s", o.cmd.ProcessState, o.logTail())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return o, fmt.Errorf("orthanc not ready after 60s: %v\n%s", err, o.logTail())
		}
	}
}

func (o *orthanc) getJSON(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.baseURL+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %.300s", path, resp.Status, b)
	}
	return json.Unmarshal(b, out)
}

// countInstances returns /statistics CountInstances.
func (o *orthanc) countInstances(ctx context.Context) (int, error) {
	var st struct{ CountInstances int }
	if err := o.getJSON(ctx, "/statistics", &st); err != nil {
		return 0, err
	}
	return st.CountInstances, nil
}

// pid returns the Orthanc process's pid.
func (o *orthanc) pid() int {
	if o == nil || o.cmd == nil || o.cmd.Process == nil {
		return 0
	}
	return o.cmd.Process.Pid
}

// stop sends SIGTERM and waits, killing Orthanc after 30 seconds.
func (o *orthanc) stop() error {
	if o == nil || o.cmd == nil || o.exited == nil {
		return nil
	}
	select {
	case <-o.exited:
		return nil
	default:
	}
	_ = o.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-o.exited:
		return nil
	case <-time.After(30 * time.Second):
		_ = o.cmd.Process.Kill()
		<-o.exited
		return errors.New("orthanc did not stop within 30s of SIGTERM; killed")
	}
}

// logTail returns the end of Orthanc's log, for error messages.
func (o *orthanc) logTail() string {
	b, _ := os.ReadFile(o.logPath)
	if len(b) > 4<<10 {
		b = b[len(b)-4<<10:]
	}
	return "orthanc log (" + o.logPath + "):\n" + string(b)
}
