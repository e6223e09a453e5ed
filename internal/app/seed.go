package app

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"log/slog"
	"math/big"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/config"
	"github.com/teleread/teleread/internal/delivery"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake"
	"github.com/teleread/teleread/internal/jobs"
	"github.com/teleread/teleread/internal/postgres"
	"github.com/teleread/teleread/internal/reports"
	"github.com/teleread/teleread/internal/worklist"
)

// seedOutput is the JSON document `teleread seed` prints. Its shape is
// stable so that scripts can read the tokens.
type seedOutput struct {
	URL   string               `json:"url"`
	Users []identity.DemoLogin `json:"users"`
}

func runSeed(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet("seed", env)
	demo := fs.Bool("demo", false, "create the demo organisations, users and tokens")
	admin := fs.String("platform-admin", "", "create the first platform admin with this e-mail (new installations)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *demo == (*admin != "") {
		return &usageError{"seed: give exactly one of --demo or --platform-admin EMAIL"}
	}
	cfg, err := config.Load(env.Getenv)
	if err != nil {
		return err
	}
	pool, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := postgres.CheckSchema(ctx, pool); err != nil {
		return err
	}
	svc := identity.NewService(pool)
	out := seedOutput{URL: cfg.PublicURL}
	if *demo {
		out.Users, err = svc.SeedDemo(ctx)
		if err == nil {
			err = seedDemoWork(ctx, cfg, newLogger(cfg, env.Stderr), pool, svc, out.Users)
		}
	} else {
		var login identity.DemoLogin
		login, err = svc.Bootstrap(ctx, *admin, "Platform admin")
		out.Users = []identity.DemoLogin{login}
	}
	if err != nil {
		return err
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func runAudit(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		return &usageError{"usage: teleread audit verify"}
	}
	fs := newFlagSet("audit verify", env)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := config.Load(env.Getenv)
	if err != nil {
		return err
	}
	pool, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	rep, err := audit.Verify(ctx, pool)
	if err != nil {
		return err
	}
	if rep.OK() {
		fmt.Fprintf(env.Stdout, "audit log intact: %d events in %d chains verified\n", rep.Events, rep.Chains)
		return nil
	}
	for _, b := range rep.Breaks {
		fmt.Fprintf(env.Stdout, "BROKEN chain %s at seq %d (row id %d): %s\n", b.Chain, b.Seq, b.ID, b.Reason)
	}
	return fmt.Errorf("audit log verification failed: %d chain(s) broken", len(rep.Breaks))
}

// demoMRN marks the demo's example cases, so that seeding again adds none.
const demoMRN = "DEMO-"

// seedDemoWork makes the demo walkable at once: routing rules that send
// each specialty to its demo reading group, and example dermatology cases
// in each state (draft, submitted and routed, claimed, more information
// requested, signed and delivered, acknowledged), through the domain
// services as the people would. Running it again changes nothing.
func seedDemoWork(ctx context.Context, cfg config.Config, logger *slog.Logger, pool *pgxpool.Pool, idn *identity.Service,
	logins []identity.DemoLogin) error {
	who := map[identity.Role]*identity.Principal{}
	groups := map[string]uuid.UUID{}
	for _, l := range logins {
		p, err := idn.AuthenticateToken(ctx, l.Token)
		if err != nil {
			return fmt.Errorf("demo principal %s: %w", l.Email, err)
		}
		if _, ok := who[l.Role]; !ok || l.Role != identity.RoleSpecialist || l.Org == "demo-derm" {
			who[l.Role] = p
		}
		if l.Org == "demo-derm" || l.Org == "demo-rad" {
			groups[l.Org] = p.OrgID
		}
	}
	admin, staff, gp, derm := who[identity.RolePlatformAdmin], who[identity.RoleSiteStaff],
		who[identity.RoleReferringPhysician], who[identity.RoleSpecialist]
	if admin == nil || staff == nil || gp == nil || derm == nil {
		return fmt.Errorf("seed: the demo users are incomplete")
	}

	store, err := newBlobStore(cfg)
	if err != nil {
		return err
	}
	if err := store.EnsureBucket(ctx); err != nil {
		return fmt.Errorf("seed: object storage: %w", err)
	}
	inserter, err := jobs.NewClient(pool, logger, jobs.Options{})
	if err != nil {
		return err
	}
	cs := cases.NewService(pool, inserter)
	in := intake.New(pool, store, cs, inserter, intake.Options{MaxFileBytes: cfg.MaxUploadBytes, Logger: logger})
	wl := worklist.NewService(pool)
	rs := reports.NewService(pool, store, inserter, wl, delivery.NewOpener(pool), reports.Options{PublicURL: cfg.PublicURL})
	dl := delivery.NewService(pool, inserter, rs, delivery.Options{AllowPrivateWebhooks: cfg.WebhookAllowPrivate})

	// Routing rules: each specialty to its demo reading group.
	rules, err := wl.ListRules(ctx, admin)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, r := range rules {
		have[r.Name] = true
	}
	for _, r := range []worklist.NewRule{
		{Name: "Demo: dermatology to Demo Dermatology Readers", Specialty: identity.SpecialtyDermatology,
			ReadingGroupID: groups["demo-derm"], IsDefault: true},
		{Name: "Demo: radiology to Demo Radiology Readers", Specialty: identity.SpecialtyRadiology,
			ReadingGroupID: groups["demo-rad"], IsDefault: true},
	} {
		if have[r.Name] || r.ReadingGroupID == uuid.Nil {
			continue
		}
		// A default rule made by hand for the specialty stays: it routes.
		if _, err := wl.CreateRule(ctx, admin, r); err != nil && !apperr.Is(err, apperr.Conflict) {
			return fmt.Errorf("seed routing rule %q: %w", r.Name, err)
		}
	}

	// Example cases, once.
	existing, err := cs.List(ctx, staff, cases.Filter{Limit: 200})
	if err != nil {
		return err
	}
	for _, c := range existing {
		if strings.HasPrefix(c.PatientMrn, demoMRN) {
			return nil
		}
	}
	type example struct {
		name, birth, sex, site, question string
		priority                         string
		stage                            cases.Status
		critical                         bool
	}
	examples := []example{
		{"Olivia Draft", "1990-05-14", "F", "left forearm", "New mole, 4 mm. Benign?", "routine", cases.StatusDraft, false},
		{"Ben Routed", "1958-11-02", "M", "back", "Changing pigmented lesion on the back. Melanoma?", "urgent", cases.StatusRouted, false},
		{"Chloe Claimed", "1976-03-21", "F", "face", "Scaly patch on the cheek for 6 months. Actinic keratosis?", "routine", cases.StatusInReview, false},
		{"Dan Moreinfo", "1949-08-30", "M", "right hand", "Non-healing ulcer on the hand. BCC or SCC?", "routine", cases.StatusInfoRequested, false},
		{"Eva Delivered", "1983-01-09", "F", "left thigh", "Rapidly growing nodule. Melanoma?", "stat", cases.StatusDelivered, true},
		{"Finn Acknowledged", "1967-07-17", "M", "chest", "Itchy rash on the chest. Eczema?", "routine", cases.StatusAcknowledged, false},
	}
	for i, ex := range examples {
		c, err := cs.Create(ctx, staff, cases.NewCase{ReferringPhysicianID: gp.UserID, Specialty: identity.SpecialtyDermatology,
			Priority: ex.priority, PatientName: ex.name, PatientBirthDate: ex.birth, PatientSex: ex.sex,
			PatientMRN: fmt.Sprintf("%s%04d", demoMRN, i+1), ClinicalQuestion: ex.question, LesionBodySite: ex.site,
			History: "Demo case made by `teleread seed --demo`."})
		if err != nil {
			return fmt.Errorf("seed demo case %d: %w", i+1, err)
		}
		res := in.Add(ctx, staff, c, intake.Input{Filename: fmt.Sprintf("lesion-%d.jpg", i+1), Body: bytes.NewReader(demoPhoto(i)),
			BodySite: ex.site})
		if !res.Accepted {
			return fmt.Errorf("seed demo photo %d: %s", i+1, res.Reason)
		}
		if ex.stage == cases.StatusDraft {
			continue
		}
		if _, err := cs.Submit(ctx, staff, c.ID); err != nil {
			return fmt.Errorf("seed submit demo case %d: %w", i+1, err)
		}
		if _, err := wl.Route(ctx, c.ID); err != nil {
			return fmt.Errorf("seed route demo case %d: %w", i+1, err)
		}
		if ex.stage == cases.StatusRouted {
			continue
		}
		if _, err := wl.Claim(ctx, derm, c.ID); err != nil {
			return fmt.Errorf("seed claim demo case %d: %w", i+1, err)
		}
		switch ex.stage {
		case cases.StatusInReview:
			continue
		case cases.StatusInfoRequested:
			if _, err := wl.RequestInfo(ctx, derm, c.ID, "Please send a close-up photo with a ruler beside the lesion."); err != nil {
				return fmt.Errorf("seed request info on demo case %d: %w", i+1, err)
			}
			continue
		}
		content := reports.Content{Findings: "Clinical photo reviewed.", Impression: "Seborrhoeic dermatitis; no sign of malignancy.",
			Recommendations: "Topical treatment; review in 3 months if not better.", FollowUp: "P3M"}
		if ex.critical {
			content = reports.Content{Findings: "Asymmetric nodule with irregular border and colour variation, about 12 mm.",
				Impression: "Suspicious for nodular melanoma.", Recommendations: "Urgent excision biopsy within 2 weeks.",
				Critical: true}
		}
		if _, err := rs.SaveDraft(ctx, derm, c.ID, content, nil); err != nil {
			return fmt.Errorf("seed report on demo case %d: %w", i+1, err)
		}
		r, err := rs.Sign(ctx, derm, c.ID)
		if err != nil {
			return fmt.Errorf("seed sign demo case %d: %w", i+1, err)
		}
		// Deliver to the inbox now, as the deliver job would; the job
		// finds it delivered.
		ds, err := dl.ReportDeliveries(ctx, admin, r.ID)
		if err != nil {
			return fmt.Errorf("seed deliveries of demo case %d: %w", i+1, err)
		}
		for _, d := range ds.Deliveries {
			if d.Channel == delivery.ChannelInbox {
				if _, err := dl.Deliver(ctx, d.ID, 1, 25); err != nil {
					return fmt.Errorf("seed deliver demo case %d: %w", i+1, err)
				}
			}
		}
		if ex.stage == cases.StatusAcknowledged {
			if _, err := dl.Acknowledge(ctx, gp, r.ID); err != nil {
				return fmt.Errorf("seed acknowledge demo case %d: %w", i+1, err)
			}
		}
	}
	return seedDemoRadiology(ctx, cs, in, wl, staff, gp)
}

// seedDemoRadiology makes a routed radiology case with a small chest
// X-ray (made here), for the radiology readers' worklist.
func seedDemoRadiology(ctx context.Context, cs *cases.Service, in *intake.Service, wl *worklist.Service,
	staff, gp *identity.Principal) error {
	mrn := demoMRN + "0007"
	c, err := cs.Create(ctx, staff, cases.NewCase{ReferringPhysicianID: gp.UserID, Specialty: identity.SpecialtyRadiology,
		Priority: "urgent", PatientName: "Rita Radiology", PatientBirthDate: "1955-04-12", PatientSex: "F", PatientMRN: mrn,
		ClinicalQuestion: "Cough and fever for a week. Pneumonia?", History: "Demo case made by `teleread seed --demo`."})
	if err != nil {
		return fmt.Errorf("seed demo radiology case: %w", err)
	}
	res := in.Add(ctx, staff, c, intake.Input{Filename: "chest.dcm", Body: bytes.NewReader(demoDICOM("Radiology^Rita", mrn, "19550412", "F"))})
	if !res.Accepted {
		return fmt.Errorf("seed demo X-ray: %s", res.Reason)
	}
	if _, err := cs.Submit(ctx, staff, c.ID); err != nil {
		return fmt.Errorf("seed submit demo radiology case: %w", err)
	}
	if _, err := wl.Route(ctx, c.ID); err != nil {
		return fmt.Errorf("seed route demo radiology case: %w", err)
	}
	return nil
}

// demoDICOM is a Secondary Capture chest X-ray of 256x256 8-bit pixels
// (a drawing of a chest), Explicit VR Little Endian, with fresh UIDs.
func demoDICOM(name, id, birth, sex string) []byte {
	le := binary.LittleEndian
	elem := func(out []byte, group, el uint16, vr, val string) []byte {
		if len(val)%2 == 1 {
			if vr == "UI" {
				val += "\x00"
			} else {
				val += " "
			}
		}
		out = append(le.AppendUint16(le.AppendUint16(out, group), el), vr...)
		if vr == "OB" || vr == "OW" {
			out = le.AppendUint32(append(out, 0, 0), uint32(len(val)))
		} else {
			out = le.AppendUint16(out, uint16(len(val)))
		}
		return append(out, val...)
	}
	us := func(v int) string { return string(le.AppendUint16(nil, uint16(v))) }
	uid := func() string {
		u := uuid.New()
		return "2.25." + new(big.Int).SetBytes(u[:]).String()
	}
	const sc, rows, cols = "1.2.840.10008.5.1.4.1.1.7", 256, 256
	sop := uid()
	var meta []byte
	meta = elem(meta, 2, 1, "OB", "\x00\x01")
	meta = elem(meta, 2, 2, "UI", sc)
	meta = elem(meta, 2, 3, "UI", sop)
	meta = elem(meta, 2, 0x10, "UI", "1.2.840.10008.1.2.1")
	out := append(make([]byte, 128), "DICM"...)
	out = elem(out, 2, 0, "UL", string(le.AppendUint32(nil, uint32(len(meta)))))
	out = append(out, meta...)
	out = elem(out, 8, 0x16, "UI", sc)
	out = elem(out, 8, 0x18, "UI", sop)
	out = elem(out, 8, 0x20, "DA", time.Now().UTC().Format("20060102"))
	out = elem(out, 8, 0x60, "CS", "CR")
	out = elem(out, 8, 0x1030, "LO", "Chest X-ray (demo)")
	out = elem(out, 8, 0x103E, "LO", "PA")
	out = elem(out, 0x10, 0x10, "PN", name)
	out = elem(out, 0x10, 0x20, "LO", id)
	out = elem(out, 0x10, 0x30, "DA", birth)
	out = elem(out, 0x10, 0x40, "CS", sex)
	out = elem(out, 0x18, 0x15, "CS", "CHEST")
	out = elem(out, 0x20, 0x0D, "UI", uid())
	out = elem(out, 0x20, 0x0E, "UI", uid())
	out = elem(out, 0x20, 0x11, "IS", "1")
	out = elem(out, 0x20, 0x13, "IS", "1")
	out = elem(out, 0x28, 0x02, "US", us(1))
	out = elem(out, 0x28, 0x04, "CS", "MONOCHROME2")
	out = elem(out, 0x28, 0x10, "US", us(rows))
	out = elem(out, 0x28, 0x11, "US", us(cols))
	out = elem(out, 0x28, 0x100, "US", us(8))
	out = elem(out, 0x28, 0x101, "US", us(8))
	out = elem(out, 0x28, 0x102, "US", us(7))
	out = elem(out, 0x28, 0x103, "US", us(0))
	px := make([]byte, rows*cols)
	for y := 0; y < rows; y++ {
		for x := 0; x < cols; x++ {
			v := 20
			// Two lungs (dark) in a lighter chest, a spine and ribs.
			lx, rx, cy := (x-80)*(x-80), (x-176)*(x-176), (y-130)*(y-130)*10/25
			switch {
			case x > 118 && x < 138:
				v = 200
			case lx*10/9+cy < 45*45 || rx*10/9+cy < 45*45:
				v = 60 + (y%24)/3*4
				if y%24 < 3 {
					v = 170
				}
			case x > 25 && x < 231 && y > 40 && y < 240:
				v = 150
			}
			px[y*cols+x] = byte(v)
		}
	}
	return elem(out, 0x7FE0, 0x10, "OB", string(px))
}

// demoPhoto is a clinical-looking photo: a brown lesion on skin, a little
// different for each case.
func demoPhoto(n int) []byte {
	const w, h = 800, 600
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := 60 + 15*n
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			// Skin with a soft gradient and texture.
			v := uint8((x*7 + y*13 + (x*y)%17) % 12)
			c := color.RGBA{218 + v, 178 + v, 156 + v, 255}
			dx, dy := x-w/2-n*10, y-h/2
			if d := dx*dx + dy*dy + (dx*dy)/3; d < r*r {
				c = color.RGBA{uint8(90 + (d*40)/(r*r)), uint8(55 + (d*30)/(r*r)), 35, 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	_ = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 88})
	return buf.Bytes()
}
