package abuse_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/jpeg"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/teleread/teleread/internal/testenv"
)

// reasonRe finds the first file's reason in an upload answer.
var reasonRe = regexp.MustCompile(`"reason":"([^"]*)"`)

func heapInuse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func totalAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

func runtimeGoroutines() int { return runtime.NumGoroutine() }

// bombPNG is a complete, valid-looking PNG whose header declares w×h
// pixels (8-bit RGB) and whose one IDAT holds a few deflated bytes.
func bombPNG(w, h uint32) []byte {
	out := []byte("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
		body := append([]byte(typ), data...)
		out = append(out, body...)
		out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(body))
	}
	ihdr := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, w), h)
	chunk("IHDR", append(ihdr, 8, 2, 0, 0, 0))
	chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	chunk("IEND", nil)
	return out
}

// bombJPEG is a real 16×16 JPEG whose frame header is patched to declare
// w×h pixels.
func bombJPEG(t *testing.T, w, h uint16) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 16, 16)), nil); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	i := bytes.Index(b, []byte{0xFF, 0xC0})
	if i < 0 {
		t.Fatal("no SOF0")
	}
	binary.BigEndian.PutUint16(b[i+5:], h)
	binary.BigEndian.PutUint16(b[i+7:], w)
	return b
}

// dicomStart is an Explicit VR Little Endian file of Doe^Archibald
// (77654033) with its UIDs and no pixel data; tests append elements.
func dicomStart(sop string) []byte {
	h := testenv.DICOMHeader(sop, 1, 1, 1, 0)
	// Cut the image module and the Pixel Data header: keep up to the
	// Series Instance UID, which is the last element before group 0028.
	i := bytes.Index(h, []byte{0x28, 0x00, 0x02, 0x00, 'U', 'S'})
	return h[:i]
}

func le16(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

// deepDICOM nests depth Content Sequences (0040,A730) of undefined length.
func deepDICOM(depth int) []byte {
	b := dicomStart("1.2.826.0.1.3680043.10.1.1")
	seqOpen := append(append(le16(0x0040), le16(0xA730)...), append([]byte("SQ\x00\x00"), le32(0xFFFFFFFF)...)...)
	itemOpen := append(append(le16(0xFFFE), le16(0xE000)...), le32(0xFFFFFFFF)...)
	itemClose := append(append(le16(0xFFFE), le16(0xE00D)...), le32(0)...)
	seqClose := append(append(le16(0xFFFE), le16(0xE0DD)...), le32(0)...)
	for range depth {
		b = append(append(b, seqOpen...), itemOpen...)
	}
	for range depth {
		b = append(append(b, itemClose...), seqClose...)
	}
	return b
}

// tinyDICOM is a valid file followed by n private SH elements of two
// bytes each (10 bytes on the wire), in ascending tag order.
func tinyDICOM(n int) []byte {
	b := dicomStart("1.2.826.0.1.3680043.10.1.2")
	for i := range n {
		group, elem := uint16(0x0029+2*(i/0xE000)), uint16(0x1000+i%0xE000)
		b = append(append(append(b, le16(group)...), le16(elem)...), 'S', 'H', 2, 0, 'a', 'b')
	}
	return b
}

// hugeLengthDICOM declares a 4 GiB private OB value of which 64 bytes follow.
func hugeLengthDICOM() []byte {
	b := dicomStart("1.2.826.0.1.3680043.10.1.3")
	b = append(append(append(b, le16(0x0029)...), le16(0x1010)...), 'O', 'B', 0, 0)
	return append(append(b, le32(0xFFFFFFF0)...), make([]byte, 64)...)
}

// TestHostileFiles uploads files built to exhaust memory or time through
// the real upload route: each is answered within seconds with a 4xx and a
// reason (or, for a file that is valid however odd, accepted), and the
// process allocates a small fraction of what the file declares.
func TestHostileFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the server")
	}
	s := start(t, nil)
	for _, tc := range []struct {
		name     string
		data     []byte
		status   int
		reason   string
		maxAlloc uint64 // bytes the process may allocate answering
	}{
		{"PNG60000x60000", bombPNG(60000, 60000), http.StatusUnprocessableEntity, "pixels", 32 << 20},
		{"JPEG60000x60000", bombJPEG(t, 60000, 60000), http.StatusUnprocessableEntity, "pixels", 32 << 20},
		{"PNG1x268435455", bombPNG(1, 1<<28-1), http.StatusUnprocessableEntity, "", 32 << 20},
		{"DICOMHugeLength", hugeLengthDICOM(), http.StatusUnprocessableEntity, "invalid DICOM", 32 << 20},
		{"DICOMDeepSequences", deepDICOM(10_000), http.StatusUnprocessableEntity, "nested deeper", 32 << 20},
		{"DICOMMillionElements", tinyDICOM(1_000_000), http.StatusCreated, "", 160 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := s.uploadRequest(tc.name+".bin", tc.data)
			runtime.GC()
			before, start := totalAlloc(), time.Now()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			took, alloc := time.Since(start), totalAlloc()-before
			reason := reasonRe.FindSubmatch(raw)
			if reason == nil {
				reason = [][]byte{nil, []byte("-")}
			}
			t.Logf("abuse: %s (%d bytes): %d in %v, %.1f MiB allocated; reason: %s", tc.name, len(tc.data), resp.StatusCode,
				took.Round(time.Millisecond), mib(alloc), reason[1])
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, raw)
			}
			if !strings.Contains(string(raw), tc.reason) {
				t.Fatalf("answer does not give the reason %q: %s", tc.reason, raw)
			}
			if alloc > tc.maxAlloc+uint64(len(tc.data))*4 {
				t.Fatalf("allocated %.1f MiB answering a %d-byte file", mib(alloc), len(tc.data))
			}
			if took > 20*time.Second {
				t.Fatalf("took %v", took)
			}
		})
	}
}

// TestSlowLorisHeaders dribbles a request's headers one byte a second:
// the server's ReadHeaderTimeout (10 s, internal/app/serve.go) closes the
// connection, and /healthz answers meanwhile.
func TestSlowLorisHeaders(t *testing.T) {
	t.Parallel() // sleeps or measures nothing: beside the others, after the measuring tests
	if testing.Short() {
		t.Skip("takes ReadHeaderTimeout (10 s)")
	}
	s := start(t, nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		_, _ = io.Copy(io.Discard, conn) // returns when the server closes
		closed <- time.Since(start)
	}()
	if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")); err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case d := <-closed:
			t.Logf("abuse: slow-loris headers closed by the server after %v", d.Round(100*time.Millisecond))
			if d < 9*time.Second || d > 13*time.Second {
				t.Fatalf("closed after %v, want about the 10 s ReadHeaderTimeout", d)
			}
			return
		case <-tick.C:
			if time.Since(start) > 20*time.Second {
				t.Fatal("the server still holds a connection whose headers never end")
			}
			_, _ = conn.Write([]byte("a"))
			requireHealthy(t, s.URL)
		}
	}
}

// TestSlowLorisBody sends an upload's headers at once and then dribbles
// its body one byte a second, on two connections, with the organisation's
// upload bound at 2 (TELEREAD_UPLOADS_PER_ORG) so that they hold all of
// its slots. The minimum body rate (TELEREAD_BODY_MIN_BYTES in every
// TELEREAD_BODY_WINDOW, here 64 KiB in 3 s) must answer each 408 and close
// it within a few seconds of the window, /healthz must answer meanwhile,
// and an honest upload of the same organisation must then be accepted.
func TestSlowLorisBody(t *testing.T) {
	t.Parallel() // sleeps or measures nothing: beside the others, after the measuring tests
	if testing.Short() {
		t.Skip("dribbles for several seconds")
	}
	const window = 3 * time.Second
	s := start(t, map[string]string{"TELEREAD_UPLOADS_PER_ORG": "2", "TELEREAD_BODY_WINDOW": window.String()})
	host := strings.TrimPrefix(s.URL, "http://")
	type result struct {
		status string
		after  time.Duration
		err    error
	}
	results := make(chan result, 2)
	began := time.Now()
	for range 2 {
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		head := "POST /api/v1/cases/" + s.caseID + "/files HTTP/1.1\r\nHost: " + host +
			"\r\nAuthorization: Bearer " + s.tokens["site_staff"] +
			"\r\nContent-Type: multipart/form-data; boundary=xx\r\nContent-Length: 10000000\r\n\r\n" +
			"--xx\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.dcm\"\r\n\r\n"
		if _, err := c.Write([]byte(head)); err != nil {
			t.Fatal(err)
		}
		// One byte a second until the server stops reading.
		go func() {
			for {
				time.Sleep(time.Second)
				if _, err := c.Write([]byte{0}); err != nil {
					return
				}
			}
		}()
		go func() {
			_ = c.SetReadDeadline(time.Now().Add(5 * window))
			line, err := bufio.NewReader(c).ReadString('\n')
			results <- result{status: strings.TrimSpace(line), after: time.Since(began), err: err}
		}()
	}
	for range 2 {
		var r result
		waitHealthy := time.NewTicker(500 * time.Millisecond)
	wait:
		for {
			select {
			case r = <-results:
				break wait
			case <-waitHealthy.C:
				requireHealthy(t, s.URL)
			}
		}
		waitHealthy.Stop()
		if r.err != nil {
			t.Fatalf("slow-loris body: no answer within %v: %v", 5*window, r.err)
		}
		if !strings.HasPrefix(r.status, "HTTP/1.1 408") {
			t.Fatalf("slow-loris body answered %q, want 408", r.status)
		}
		if r.after < window || r.after > 2*window+2*time.Second {
			t.Errorf("slow-loris body answered after %v; the window is %v", r.after, window)
		}
		t.Logf("abuse: slow-loris body answered %q after %v (window %v)", r.status, r.after.Round(100*time.Millisecond), window)
	}
	honest := append(testenv.DICOMHeader("1.2.826.0.1.3680043.10.1.9", 2, 1, 1, 2), 0, 0)
	resp, err := http.DefaultClient.Do(s.uploadRequest("ok.dcm", honest))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("an honest upload after the slow-loris bodies: %d (429: their upload slots were not freed)", resp.StatusCode)
	}
	t.Logf("abuse: honest upload after the slow-loris bodies: %d", resp.StatusCode)
}

// TestSlowHonestBody sends a DICOM instance slower than any one window
// allows in all, but at more than the minimum rate: 64 KiB every second
// for about 6 s, with a 3 s window. It must be accepted: the minimum rate
// bounds how slowly a body moves, not how long it takes.
func TestSlowHonestBody(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("sends for several seconds")
	}
	const window = 3 * time.Second
	s := start(t, map[string]string{"TELEREAD_BODY_WINDOW": window.String()})
	const rows, cols = 512, 768 // 384 KiB of pixels: six 64 KiB steps
	file := append(testenv.DICOMHeader("1.2.826.0.1.3680043.10.1.10", rows, cols, 1, rows*cols), make([]byte, rows*cols)...)
	pr, pw := io.Pipe()
	go func() {
		for off := 0; off < len(file); off += 64 << 10 {
			end := min(off+64<<10, len(file))
			if _, err := pw.Write(file[off:end]); err != nil {
				return
			}
			time.Sleep(time.Second)
		}
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/v1/cases/"+s.caseID+"/files", pr)
	req.ContentLength = int64(len(file))
	req.Header.Set("Content-Type", "application/dicom")
	req.Header.Set("Authorization", "Bearer "+s.tokens["site_staff"])
	began := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(began)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("slow honest upload: %d %s", resp.StatusCode, body)
	}
	if took < window {
		t.Fatalf("the upload took %v, less than the window %v: it proves nothing", took, window)
	}
	t.Logf("abuse: honest upload at 64 KiB/s over %v (window %v): %d", took.Round(100*time.Millisecond), window, resp.StatusCode)
}

// requireHealthy fails t unless /healthz answers 200 within 2 s.
func requireHealthy(t *testing.T, base string) {
	t.Helper()
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(base + "/healthz")
	if err != nil {
		t.Fatalf("/healthz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %d", resp.StatusCode)
	}
}

// TestConcurrentUploads starts 1,000 uploads at once (distinct 4 KiB DICOM
// instances into one case) against the whole server on the real services,
// with the default per-organisation bound of 32 uploads in flight: the
// rest are shed with 429 and Retry-After, and the clients retry. Every
// upload ends accepted, none with a 5xx or a broken connection; /healthz
// answers every 200 ms within 2 s throughout; heap, RSS and goroutines stay
// bounded and the goroutines come back down afterwards. The figures (of
// the whole test process: server and clients) are logged. Under the race
// detector (make test) each client tries once, so the test checks the
// shedding rather than the throughput, with looser time and memory bounds.
func TestConcurrentUploads(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 uploads")
	}
	s := start(t, nil)
	const n = 1000
	healthWithin, rssBound := 2*time.Second, uint64(2<<30)
	if raceEnabled {
		healthWithin, rssBound = 5*time.Second, 3<<30
	}
	tr := &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: 0, IdleConnTimeout: 5 * time.Second}
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	defer tr.CloseIdleConnections()
	files := make([][]byte, n)
	for i := range files {
		files[i] = append(testenv.DICOMHeader(fmt.Sprintf("1.2.826.0.1.3680043.10.2.%d", i+1), 64, 64, 1, 4096), make([]byte, 4096)...)
	}

	runtime.GC()
	smp := newSampler(100 * time.Millisecond)
	var health struct {
		sync.Mutex
		max   time.Duration
		count int
		fail  []string
	}
	stopHealth := make(chan struct{})
	healthDone := make(chan struct{})
	go func() {
		defer close(healthDone)
		hc := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
		for {
			select {
			case <-stopHealth:
				return
			case <-time.After(200 * time.Millisecond):
			}
			t0 := time.Now()
			resp, err := hc.Get(s.URL + "/healthz")
			d := time.Since(t0)
			health.Lock()
			health.count++
			health.max = max(health.max, d)
			switch {
			case err != nil:
				health.fail = append(health.fail, err.Error())
			case resp.StatusCode != http.StatusOK || d > healthWithin:
				health.fail = append(health.fail, fmt.Sprintf("%d in %v", resp.StatusCode, d))
			}
			health.Unlock()
			if resp != nil {
				resp.Body.Close()
			}
		}
	}()

	var accepted, shed atomic.Int64
	errs := make(chan error, n)
	begin := time.Now()
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			for attempt := 0; ; attempt++ {
				resp, err := client.Do(s.uploadRequest(fmt.Sprintf("ct-%d.dcm", i), files[i]))
				if err != nil {
					errs <- fmt.Errorf("upload %d: %w", i, err)
					return
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case resp.StatusCode == http.StatusCreated:
					accepted.Add(1)
					return
				case resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "":
					shed.Add(1)
					if raceEnabled {
						return
					}
					secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
					time.Sleep(time.Duration(secs)*time.Second + time.Duration(i%100)*10*time.Millisecond)
					if time.Since(begin) > 90*time.Second {
						errs <- errors.New("uploads still shed after 90 s")
						return
					}
				default:
					errs <- fmt.Errorf("upload %d: %d %s", i, resp.StatusCode, raw)
					return
				}
			}
		}()
	}
	close(gate)
	wg.Wait()
	elapsed := time.Since(begin)
	close(stopHealth)
	<-healthDone
	smp.finish()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	tr.CloseIdleConnections()
	var after int
	for deadline := time.Now().Add(15 * time.Second); ; {
		runtime.GC()
		if after = runtime.NumGoroutine(); after <= smp.goroutinesStart+20 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	heapAfter := heapInuse()
	t.Logf("abuse: %d concurrent uploads: %d accepted in %v (%.0f/s), %d answers 429 with Retry-After; %s; after: heap %.0f MiB, goroutines %d; /healthz %d answers, slowest %v, %d failures",
		n, accepted.Load(), elapsed.Round(100*time.Millisecond), float64(accepted.Load())/elapsed.Seconds(), shed.Load(), smp,
		mib(heapAfter), after, health.count, health.max.Round(time.Millisecond), len(health.fail))
	if !raceEnabled && accepted.Load() != n || raceEnabled && (accepted.Load() == 0 || accepted.Load()+shed.Load() != n) {
		t.Errorf("%d of %d uploads accepted, %d shed", accepted.Load(), n, shed.Load())
	}
	if len(health.fail) > 0 {
		t.Errorf("/healthz failed during the uploads: %v", health.fail[:min(5, len(health.fail))])
	}
	if smp.heapPeak > 1<<30 {
		t.Errorf("heap in use peaked at %.0f MiB", mib(smp.heapPeak))
	}
	if smp.goroutinesPeak > smp.goroutinesStart+6*n {
		t.Errorf("goroutines peaked at %d", smp.goroutinesPeak)
	}
	if after > smp.goroutinesStart+20 {
		t.Errorf("%d goroutines 15 s after the uploads, %d before", after, smp.goroutinesStart)
	}
	if _, err := os.Stat("/proc/self/status"); err == nil && smp.rssPeak > rssBound {
		t.Errorf("RSS peaked at %.0f MiB", mib(smp.rssPeak))
	}
}

// TestHostileQueries sends QIDO-RS searches with bytes PostgreSQL refuses
// (invalid UTF-8, NUL) and an oversized value: each is a 4xx, never a 5xx.
func TestHostileQueries(t *testing.T) {
	t.Parallel() // sleeps or measures nothing: beside the others, after the measuring tests
	if testing.Short() {
		t.Skip("starts the server")
	}
	s := start(t, nil)
	for _, q := range []string{"PatientID=%9A", "AccessionNumber=%FF%FE", "PatientName=%C3", "Modality=%80",
		"SOPClassUID=%00", "PatientID=a%00b", "PatientName=" + strings.Repeat("x*", 50_000)} {
		path := "/dicomweb/studies?" + q
		if strings.HasPrefix(q, "Modality") {
			path = "/dicomweb/series?" + q
		} else if strings.HasPrefix(q, "SOPClassUID") {
			path = "/dicomweb/instances?" + q
		}
		req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+s.tokens["site_staff"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Logf("abuse: QIDO %.40s: %d", q, resp.StatusCode)
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusOK && strings.Contains(q, "%") {
			t.Errorf("%.40s: %d %s", q, resp.StatusCode, raw)
		}
	}
}
