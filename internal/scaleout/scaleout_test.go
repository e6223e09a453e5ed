//go:build faults

package scaleout_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/api"
	"github.com/teleread/teleread/internal/testenv"
)

// TestScaleOut runs Teleread as two API servers and two workers behind a
// round-robin proxy on one PostgreSQL and an erasure-coded MinIO, and
// checks what must hold across processes (package doc). The subtests
// share the cluster and run in order.
func TestScaleOut(t *testing.T) {
	start := time.Now()
	c := startCluster(t)
	t.Logf("cluster up in %s: servers %v, proxy %s", time.Since(start).Round(time.Millisecond), c.servers, c.proxy.URL)

	admin := c.users["admin@teleread.example"]
	staff := c.users["staff@demo-site.example"]
	gp := c.users["gp@demo-site.example"]
	rad := c.users["rad@demo-rad.example"]
	require.NotEmpty(t, admin.Token)
	require.NotEmpty(t, staff.Token)
	require.NotEmpty(t, rad.OrgID)

	// Specialists of the demo radiology group, each with a token.
	const readers = 8
	var specialists []specialist
	for i := range readers {
		var u api.User
		c.must(t, admin.Token, http.MethodPost, "/api/v1/users", api.CreateUserRequest{
			OrgID: uuid.MustParse(rad.OrgID), Email: fmt.Sprintf("reader%d@scaleout.example", i),
			Name: fmt.Sprintf("Dr Reader %d", i), Roles: []string{"specialist"}, Specialties: []string{"radiology"},
		}, http.StatusCreated, &u)
		var tok api.Token
		c.must(t, admin.Token, http.MethodPost, "/api/v1/tokens", api.CreateTokenRequest{UserID: u.ID, Name: "scaleout"},
			http.StatusCreated, &tok)
		specialists = append(specialists, specialist{id: u.ID, token: tok.Token})
	}

	t.Run("ClaimsExclusive", func(t *testing.T) {
		const cases = 12
		ids := make([]uuid.UUID, cases)
		for i := range ids {
			ids[i] = c.newCase(t, staff.Token, gp.UserID)
			c.upload(t, staff.Token, ids[i], dicom(t, 64<<10))
			c.must(t, staff.Token, http.MethodPost, "/api/v1/cases/"+ids[i].String()+"/submit", nil, http.StatusOK, nil)
		}
		// The workers route every case.
		require.Eventually(t, func() bool {
			var n int
			err := c.pool.QueryRow(context.Background(),
				`SELECT count(*) FROM cases WHERE id = ANY($1) AND status = 'routed'`, ids).Scan(&n)
			return err == nil && n == cases
		}, 60*time.Second, 200*time.Millisecond, "cases not routed:\n%s", c.logs())

		// Every specialist claims every case at once, through both servers.
		type result struct {
			status int
			body   []byte
		}
		results := make([][]result, cases)
		var wg sync.WaitGroup
		gate := make(chan struct{})
		for i, id := range ids {
			results[i] = make([]result, readers)
			for j, s := range specialists {
				wg.Go(func() {
					<-gate
					st, b := c.call(t, s.token, http.MethodPost, "/api/v1/cases/"+id.String()+"/claim", nil)
					results[i][j] = result{st, b}
				})
			}
		}
		before := []int64{c.hits[0].Load(), c.hits[1].Load()}
		close(gate)
		wg.Wait()
		for k := range 2 {
			require.Greater(t, c.hits[k].Load()-before[k], int64(cases*readers/4), "server %d took few of the claims", k+1)
		}
		for i, id := range ids {
			var winner uuid.UUID
			won := 0
			for j, r := range results[i] {
				switch r.status {
				case http.StatusOK:
					won++
					winner = specialists[j].id
				case http.StatusConflict:
					var p struct {
						Status int    `json:"status"`
						Detail string `json:"detail"`
					}
					require.NoError(t, json.Unmarshal(r.body, &p), "%s", r.body)
					require.Equal(t, http.StatusConflict, p.Status)
					require.Contains(t, p.Detail, "another specialist has claimed this case")
				default:
					t.Fatalf("case %s, specialist %d: %d %s", id, j, r.status, r.body)
				}
			}
			require.Equal(t, 1, won, "case %s: claims won", id)
			var assigned uuid.UUID
			var status string
			require.NoError(t, c.pool.QueryRow(context.Background(),
				`SELECT status, assigned_to FROM cases WHERE id = $1`, id).Scan(&status, &assigned))
			require.Equal(t, "in_review", status)
			require.Equal(t, winner, assigned, "case %s names the winner", id)
			var claims int
			require.NoError(t, c.pool.QueryRow(context.Background(),
				`SELECT count(*) FROM case_events WHERE case_id = $1 AND kind = 'claimed'`, id).Scan(&claims))
			require.Equal(t, 1, claims, "case %s: one claim event", id)
			require.NoError(t, c.pool.QueryRow(context.Background(),
				`SELECT count(*) FROM audit_events WHERE action = 'case.claim' AND object_id = $1`, id.String()).Scan(&claims))
			require.Equal(t, 1, claims, "case %s: one claim audited", id)
		}
		t.Logf("%d cases x %d specialists: one claim won each, %d conflicts", cases, readers, cases*(readers-1))
	})

	t.Run("LoginThrottleShared", func(t *testing.T) {
		// Twenty wrong passwords for one e-mail at once, round-robin over
		// both servers: five password checks in all, not five per server.
		const attempts = 20
		statuses := make([]int, attempts)
		var wg sync.WaitGroup
		gate := make(chan struct{})
		for i := range attempts {
			wg.Go(func() {
				<-gate
				statuses[i], _ = c.call(t, "", http.MethodPost, "/api/v1/auth/login",
					api.LoginRequest{Email: gp.Email, Password: "not the password"})
			})
		}
		before := []int64{c.hits[0].Load(), c.hits[1].Load()}
		close(gate)
		wg.Wait()
		count := map[int]int{}
		for _, s := range statuses {
			count[s]++
		}
		require.Equal(t, map[int]int{http.StatusUnauthorized: 5, http.StatusTooManyRequests: attempts - 5}, count)
		for k := range 2 {
			require.Positive(t, c.hits[k].Load()-before[k], "server %d took none of the sign-ins", k+1)
		}
		var failures int
		require.NoError(t, c.pool.QueryRow(context.Background(),
			`SELECT count(*) FROM login_failures WHERE email = $1`, gp.Email).Scan(&failures))
		require.Equal(t, 5, failures)
		// The right password now waits too, on either server.
		for range 2 {
			status, b := c.call(t, "", http.MethodPost, "/api/v1/auth/login", api.LoginRequest{Email: gp.Email, Password: gp.Password})
			require.Equal(t, http.StatusTooManyRequests, status, "%s", b)
		}
	})

	t.Run("SearchRatePerServer", func(t *testing.T) {
		// The search rate is kept by each server (docs/operations.md,
		// "Production layout"): through two servers one credential gets
		// one burst from each, and no more.
		tok := specialists[0].token
		ok, limited := 0, 0
		for range 4 * searchBurst {
			req, err := http.NewRequest(http.MethodGet, c.proxy.URL+"/api/v1/worklist", nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
				ok++
			case http.StatusTooManyRequests:
				limited++
				require.NotEmpty(t, resp.Header.Get("Retry-After"))
			default:
				t.Fatalf("worklist: %s", resp.Status)
			}
		}
		// Each server refills one search in 10 s: a refill or two may land.
		require.GreaterOrEqual(t, ok, 2*searchBurst, "one burst from each server")
		require.LessOrEqual(t, ok, 2*searchBurst+2, "no more than one burst from each server")
		t.Logf("searches: %d answered, %d refused (burst %d per server, 2 servers)", ok, limited, searchBurst)
	})

	t.Run("DriveLostDuringUploads", func(t *testing.T) {
		c.drivesLostDuringUploads(t, staff.Token, gp.UserID)
	})

	t.Run("PeriodicJobsOnce", func(t *testing.T) {
		// Let every one-minute periodic job come round at least once with
		// both workers running.
		if wait := 70*time.Second - time.Since(c.workersUp); wait > 0 {
			t.Logf("waiting %s for the one-minute periodic jobs", wait.Round(time.Second))
			time.Sleep(wait)
		}
		up := time.Since(c.workersUp)
		for _, p := range c.procs {
			require.True(t, p.running(), "%s exited: %v", p.name, p.err)
		}
		ctx := context.Background()
		var leaders int
		require.NoError(t, c.pool.QueryRow(ctx, `SELECT count(*) FROM river_leader`).Scan(&leaders))
		require.Equal(t, 1, leaders)

		rows, err := c.pool.Query(ctx, `SELECT kind, created_at, state, attempt FROM river_job
			WHERE kind = ANY($1) ORDER BY kind, created_at`,
			[]string{"sweep", "intake_sweep", "audit_fold", "expire_leases", "escalate"})
		require.NoError(t, err)
		runs := map[string][]time.Time{}
		for rows.Next() {
			var kind, state string
			var at time.Time
			var attempt int
			require.NoError(t, rows.Scan(&kind, &at, &state, &attempt))
			runs[kind] = append(runs[kind], at)
			if state == "completed" {
				require.Equal(t, 1, attempt, "%s at %s worked once", kind, at)
			}
		}
		require.NoError(t, rows.Err())
		t.Logf("periodic runs in %s of two workers: %v", up.Round(time.Second), counts(runs))

		// Run on start, then every 15 minutes and every hour: once.
		require.Len(t, runs["sweep"], 1, "sweep")
		require.Len(t, runs["intake_sweep"], 1, "intake_sweep")
		// Every minute (audit_fold also on start): one run a minute, never
		// two at once.
		perMinute := int(up/time.Minute) + 1
		require.NotEmpty(t, runs["audit_fold"])
		require.NotEmpty(t, runs["expire_leases"])
		for _, kind := range []string{"audit_fold", "expire_leases", "escalate"} {
			require.LessOrEqual(t, len(runs[kind]), perMinute, "%s runs in %s", kind, up)
			for i := 1; i < len(runs[kind]); i++ {
				gap := runs[kind][i].Sub(runs[kind][i-1])
				require.Greater(t, gap, 50*time.Second, "%s ran twice within %s", kind, gap)
			}
		}
		// Every claim of the first subtest was routed once, by one worker or
		// the other.
		var workedBy []string
		require.NoError(t, c.pool.QueryRow(ctx, `SELECT coalesce(array_agg(DISTINCT attempted_by[1]), '{}')
			FROM river_job WHERE kind = 'route'`).Scan(&workedBy))
		t.Logf("route jobs worked by River clients %v", workedBy)
		var twice int
		require.NoError(t, c.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'route' AND attempt > 1`).Scan(&twice))
		require.Zero(t, twice, "route jobs attempted twice")
	})
}

// specialist is one of the test's readers.
type specialist struct {
	id    uuid.UUID
	token string
}

func counts(runs map[string][]time.Time) map[string]int {
	out := map[string]int{}
	for k, v := range runs {
		out[k] = len(v)
	}
	return out
}

// newCase creates a radiology case of the demo site.
func (c *cluster) newCase(t *testing.T, token, physician string) uuid.UUID {
	t.Helper()
	var out api.Case
	c.must(t, token, http.MethodPost, "/api/v1/cases", api.CreateCaseRequest{
		ReferringPhysicianID: uuid.MustParse(physician), Specialty: "radiology", Priority: "routine",
		Patient:          api.Patient{Name: "Archibald Doe", BirthDate: "1950-01-01", Sex: "M", MRN: "77654033"},
		ClinicalQuestion: "Scale-out test case.",
	}, http.StatusCreated, &out)
	return out.ID
}

// dicom returns a DICOM instance with a fresh SOP Instance UID and
// pixels bytes of random pixels.
func dicom(t *testing.T, pixels int) []byte {
	t.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	sop := fmt.Sprintf("1.2.826.0.1.3680043.9.7777.%d", uint64(b[0])<<40|uint64(b[1])<<32|uint64(b[2])<<24|uint64(b[3])<<16|uint64(b[4])<<8|uint64(b[5]))
	rows, cols := pixels/256, 256
	out := testenv.DICOMHeader(sop, rows, cols, 1, uint32(rows*cols))
	px := make([]byte, rows*cols)
	_, _ = rand.Read(px)
	return append(out, px...)
}

// upload sends one DICOM file through the proxy and returns the accepted
// file; any answer but 201 fails t.
func (c *cluster) upload(t *testing.T, token string, caseID uuid.UUID, data []byte) api.File {
	t.Helper()
	status, file, body, err := c.tryUpload(context.Background(), token, caseID, data)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, status, "%s", body)
	return file
}

// tryUpload sends one DICOM file and returns the status, the accepted
// file (on 201) and the answer.
func (c *cluster) tryUpload(ctx context.Context, token string, caseID uuid.UUID, data []byte) (int, api.File, []byte, error) {
	u := c.proxy.URL + "/api/v1/cases/" + caseID.String() + "/files?" + url.Values{"filename": {"instance.dcm"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(data))
	if err != nil {
		return 0, api.File{}, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/dicom")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, api.File{}, nil, fmt.Errorf("upload to case %s: %w", caseID, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, api.File{}, nil, fmt.Errorf("upload to case %s: read answer: %w", caseID, err)
	}
	if resp.StatusCode != http.StatusCreated {
		return resp.StatusCode, api.File{}, body, nil
	}
	var ans api.UploadAnswer
	if err := json.Unmarshal(body, &ans); err != nil {
		return resp.StatusCode, api.File{}, body, fmt.Errorf("upload answer: %w", err)
	}
	if len(ans.Files) != 1 || ans.Files[0].File == nil {
		return resp.StatusCode, api.File{}, body, fmt.Errorf("upload answer without its file: %s", body)
	}
	return resp.StatusCode, *ans.Files[0].File, body, nil
}

// content reads a file's bytes through the proxy and returns their
// SHA-256.
func (c *cluster) content(t *testing.T, token string, id uuid.UUID) (string, int) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.proxy.URL+"/api/v1/files/"+id.String()+"/content", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	h := sha256.New()
	_, err = io.Copy(h, resp.Body)
	require.NoError(t, err)
	return hex.EncodeToString(h.Sum(nil)), resp.StatusCode
}

// drivesLostDuringUploads uploads from several clients while one MinIO
// drive's folder is renamed away, then reads every upload answered 201
// back, with the drive gone and after it is back.
func (c *cluster) drivesLostDuringUploads(t *testing.T, token, physician string) {
	const (
		uploaders = 4
		perCase   = 1000
		runFor    = 16 * time.Second
		loseAt    = 4 * time.Second
	)
	type sent struct {
		file  api.File
		local string // SHA-256 of the bytes sent
		after bool   // answered after the drive was gone
	}
	var (
		mu       sync.Mutex
		accepted []sent
		refused  = map[int]int{}
		lost     atomic.Bool
	)
	drive := c.stack.MinIODrive(2)
	away := drive + ".away"
	t.Cleanup(func() {
		if _, err := os.Stat(away); err == nil {
			_ = os.Rename(away, drive)
		}
	})

	// Every upload started before the deadline runs to its answer, so
	// that each file row is matched by a 201 the test saw.
	ctx := context.Background()
	deadline := time.Now().Add(runFor)
	var wg sync.WaitGroup
	for range uploaders {
		caseID := c.newCase(t, token, physician)
		wg.Go(func() {
			for n := 0; time.Now().Before(deadline) && n < perCase; n++ {
				data := dicom(t, 256<<10)
				sum := sha256.Sum256(data)
				wasLost := lost.Load()
				status, f, body, err := c.tryUpload(ctx, token, caseID, data)
				mu.Lock()
				switch {
				case err != nil:
					refused[-1]++
					t.Logf("upload: %v", err)
				case status == http.StatusCreated:
					accepted = append(accepted, sent{file: f, local: hex.EncodeToString(sum[:]), after: wasLost})
				default:
					refused[status]++
					t.Logf("upload refused: %d %.300s", status, body)
				}
				mu.Unlock()
			}
		})
	}
	time.Sleep(loseAt)
	require.NoError(t, os.Rename(drive, away), "take drive 2 away")
	lost.Store(true)
	t.Logf("drive 2 taken away (%s renamed) during the uploads", drive)
	wg.Wait()

	afterLoss := 0
	for _, s := range accepted {
		if s.after {
			afterLoss++
		}
	}
	t.Logf("uploads: %d answered 201 (%d started after the drive was gone), refused %v", len(accepted), afterLoss, refused)
	require.Positive(t, afterLoss, "uploads went on with a drive gone")
	require.Empty(t, refused, "no upload failed with one drive of four gone (write quorum is three)")

	check := func(when string) {
		for _, s := range accepted {
			require.Equal(t, s.local, s.file.SHA256, "the server hashed what was sent")
			got, status := c.content(t, token, s.file.ID)
			require.Equal(t, http.StatusOK, status, "%s: file %s", when, s.file.ID)
			require.Equal(t, s.file.StoredSHA256, got, "%s: file %s reads back with its SHA-256", when, s.file.ID)
		}
	}
	check("with drive 2 gone")
	// MinIO makes the drive's folder again when it writes to it: that new,
	// unformatted folder goes, and the original comes back, without the
	// objects written while it was away.
	if _, err := os.Stat(drive); err == nil {
		files := 0
		_ = filepath.WalkDir(drive, func(_ string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				files++
			}
			return nil
		})
		t.Logf("MinIO had made %s again (%d files in it); replacing it with the original", drive, files)
		require.NoError(t, os.Rename(drive, drive+".remade"))
	}
	require.NoError(t, os.Rename(away, drive), "put drive 2 back")
	check("with drive 2 back")
	// The database and the bucket agree: every file row the uploads made
	// is one of the files answered 201.
	var rows int
	require.NoError(t, c.pool.QueryRow(context.Background(), `SELECT count(*) FROM files f JOIN cases c ON c.id = f.case_id
		WHERE c.clinical_question = 'Scale-out test case.' AND c.status = 'draft'`).Scan(&rows))
	require.Equal(t, len(accepted), rows, "file rows of the uploads")
}
