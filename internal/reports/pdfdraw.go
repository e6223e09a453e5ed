package reports

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goitalic"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/goregular"
)

// The PDF is drawn with go-pdf/fpdf, the maintained fork of gofpdf: pure
// Go (no cgo, no headless browser), stable output, JPEG and PNG images, and
// embedded TrueType fonts. The Go fonts (golang.org/x/image/font/gofont)
// are embedded, so names in any Latin, Greek or Cyrillic script print as
// written, and no font files ship beside the binary.

// Page geometry (A4, millimetres) and colours.
const (
	pageMargin = 15.0
	lineH      = 5.0
)

var (
	colInk     = [3]int{33, 37, 41}
	colMuted   = [3]int{108, 117, 125}
	colRule    = [3]int{206, 212, 218}
	colPanel   = [3]int{241, 243, 245}
	colCrit    = [3]int{176, 0, 32}
	colPrelim  = [3]int{214, 120, 0}
	colAccent  = [3]int{20, 84, 148}
	fontFamily = "go"
)

// pdfWriter draws one report.
type pdfWriter struct {
	f     *fpdf.Fpdf
	d     document
	width float64 // printable width
}

// renderPDF draws the document; the result holds the finished PDF in
// memory (a few previews at most) until it is written out.
func renderPDF(d document, images []keyImage, missing int, now time.Time) (*fpdf.Fpdf, error) {
	f := fpdf.New("P", "mm", "A4", "")
	// Each document gets its own copy of the font files: fpdf writes into
	// the bytes it is given while subsetting (an append on a sub-slice), so
	// sharing gofont's package-level slices would race between concurrent
	// renders and corrupt them for the whole process.
	f.AddUTF8FontFromBytes(fontFamily, "", bytes.Clone(goregular.TTF))
	f.AddUTF8FontFromBytes(fontFamily, "B", bytes.Clone(gobold.TTF))
	f.AddUTF8FontFromBytes(fontFamily, "I", bytes.Clone(goitalic.TTF))
	f.AddUTF8FontFromBytes("gomono", "", bytes.Clone(gomono.TTF))
	f.SetMargins(pageMargin, pageMargin, pageMargin)
	f.SetAutoPageBreak(true, 18)
	f.SetCreationDate(now)
	f.SetModificationDate(now)
	f.SetTitle(fmt.Sprintf("%s report %s", specialtyTitle(d.Case.Specialty), d.Report.ID), true)
	f.SetAuthor(d.GroupName, true)
	f.SetCreator("Teleread", true)
	f.SetLang("en")
	f.AliasNbPages("{nb}")
	pageW, _ := f.GetPageSize()
	w := &pdfWriter{f: f, d: d, width: pageW - 2*pageMargin}
	f.SetHeaderFunc(w.header)
	f.SetFooterFunc(w.footer)
	f.AddPage()

	w.statusBanners()
	w.patientBlock()
	w.section("Clinical question", d.Case.ClinicalQuestion)
	w.section("History", d.Case.History)
	if d.Case.LesionBodySite != nil || d.Case.LesionDuration != nil {
		w.lesion()
	}
	if len(d.Studies) > 0 {
		w.studies()
	}
	w.section("Findings", d.Report.Findings)
	w.section("Impression", d.Report.Impression)
	if len(d.Report.Diagnoses) > 0 {
		w.diagnoses()
	}
	w.section("Recommendations", d.Report.Recommendations)
	if d.Report.FollowUp != "" {
		w.section("Follow-up", fmt.Sprintf("In %s (%s)", FollowUpText(d.Report.FollowUp), d.Report.FollowUp))
	}
	if len(images) > 0 || missing > 0 {
		w.images(images, missing)
	}
	w.signatures()
	if len(d.Report.Addenda) > 0 {
		w.addenda()
	}
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("render pdf: %w", err)
	}
	f.Close()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("render pdf: %w", err)
	}
	return f, nil
}

func (w *pdfWriter) color(c [3]int)                  { w.f.SetTextColor(c[0], c[1], c[2]) }
func (w *pdfWriter) fill(c [3]int)                   { w.f.SetFillColor(c[0], c[1], c[2]) }
func (w *pdfWriter) draw(c [3]int)                   { w.f.SetDrawColor(c[0], c[1], c[2]) }
func (w *pdfWriter) font(style string, size float64) { w.f.SetFont(fontFamily, style, size) }

// header draws the page head: the reading group and the kind of report,
// who referred it, and the watermark of an unfinished report.
func (w *pdfWriter) header() {
	f, d := w.f, w.d
	w.watermark()
	f.SetXY(pageMargin, 10)
	w.color(colMuted)
	w.font("B", 7.5)
	f.CellFormat(w.width/2, 4, "TELEREAD", "", 0, "L", false, 0, "")
	w.font("", 7.5)
	f.CellFormat(w.width/2, 4, "Report "+d.Report.ID.String(), "", 1, "R", false, 0, "")
	w.color(colAccent)
	w.font("B", 14)
	group := d.GroupName
	if group == "" {
		group = "Reading group"
	}
	f.CellFormat(w.width*0.55, 7, group, "", 0, "L", false, 0, "")
	w.color(colInk)
	w.font("B", 11)
	f.CellFormat(w.width*0.45, 7, specialtyTitle(d.Case.Specialty)+" report", "", 1, "R", false, 0, "")
	w.color(colMuted)
	w.font("", 8.5)
	f.CellFormat(w.width, 4.5, fmt.Sprintf("For %s, %s", d.ReferringName, d.SiteName), "", 1, "L", false, 0, "")
	w.draw(colAccent)
	f.SetLineWidth(0.5)
	y := f.GetY() + 1.5
	f.Line(pageMargin, y, pageMargin+w.width, y)
	f.SetLineWidth(0.2)
	f.SetY(y + 4)
	w.color(colInk)
}

// watermark writes PRELIMINARY or DRAFT across an unfinished report's page.
func (w *pdfWriter) watermark() {
	var text string
	var c [3]int
	switch w.d.Report.Status {
	case StatusPreliminary:
		text, c = "PRELIMINARY", colPrelim
	case StatusDraft:
		text, c = "DRAFT · NOT SIGNED", colMuted
	default:
		return
	}
	f := w.f
	pw, ph := f.GetPageSize()
	f.SetAlpha(0.10, "Normal")
	w.color(c)
	w.font("B", 64)
	tw := f.GetStringWidth(text)
	f.TransformBegin()
	f.TransformRotate(45, pw/2, ph/2)
	f.Text(pw/2-tw/2, ph/2+8, text)
	f.TransformEnd()
	f.SetAlpha(1, "Normal")
	w.color(colInk)
}

func (w *pdfWriter) footer() {
	f, d := w.f, w.d
	f.SetY(-13)
	w.draw(colRule)
	f.Line(pageMargin, f.GetY(), pageMargin+w.width, f.GetY())
	f.Ln(1.5)
	w.color(colMuted)
	w.font("", 7.5)
	status := d.Report.Status
	if status == StatusFinal && len(d.Report.Addenda) > 0 {
		status = "final, with addenda"
	}
	f.CellFormat(w.width*0.7, 4, fmt.Sprintf("%s · %s · patient MRN %s · case %s", d.Case.PatientName, status,
		d.Case.PatientMrn, d.Case.ID), "", 0, "L", false, 0, "")
	f.CellFormat(w.width*0.3, 4, fmt.Sprintf("Page %d of {nb}", f.PageNo()), "", 0, "R", false, 0, "")
	w.color(colInk)
}

// banner draws a full-width coloured box of white text.
func (w *pdfWriter) banner(c [3]int, title, text string) {
	f := w.f
	w.fill(c)
	f.SetTextColor(255, 255, 255)
	w.font("B", 11)
	f.CellFormat(w.width, 7, "  "+title, "", 1, "L", true, 0, "")
	if text != "" {
		w.font("", 9)
		f.MultiCell(w.width, 4.5, text, "", "L", true)
	}
	w.color(colInk)
	f.Ln(3)
}

func (w *pdfWriter) statusBanners() {
	r := w.d.Report
	switch r.Status {
	case StatusDraft:
		w.banner(colMuted, "DRAFT — NOT SIGNED", "  This draft is for the reading group's review only. It is not a report.")
	case StatusPreliminary:
		w.banner(colPrelim, "PRELIMINARY REPORT — AWAITING SECOND READ",
			"  Signed by a first reader; a second specialist will sign the final report. Treat it as provisional.")
	case StatusFinal:
		if n := len(r.Addenda); n > 0 {
			title := "FINAL REPORT WITH AN ADDENDUM"
			if n > 1 {
				title = fmt.Sprintf("FINAL REPORT WITH %d ADDENDA", n)
			}
			w.banner(colAccent, title,
				"  Signed final, then amended: read the addenda at the end of the report.")
		}
	}
	if r.Critical {
		w.banner(colCrit, "CRITICAL RESULT",
			"  This report contains a critical finding: act on it and acknowledge receipt without delay.")
	}
}

// patientBlock is a shaded panel of the patient and the case.
func (w *pdfWriter) patientBlock() {
	f, c := w.f, w.d.Case
	rows := [][2][2]string{
		{{"Patient", c.PatientName}, {"MRN", c.PatientMrn}},
		{{"Birth date", c.PatientBirthDate.Format(time.DateOnly)}, {"Sex", sexText(c.PatientSex)}},
		{{"Referring physician", w.d.ReferringName}, {"Site", w.d.SiteName}},
		{{"Priority", c.Priority}, {"Submitted", timeText(c.SubmittedAt)}},
	}
	w.fill(colPanel)
	half := w.width / 2
	for _, row := range rows {
		for i, cell := range row {
			w.color(colMuted)
			w.font("", 8)
			f.CellFormat(30, 6, "  "+cell[0], "", 0, "L", true, 0, "")
			w.color(colInk)
			w.font("B", 9.5)
			ln := 0
			if i == 1 {
				ln = 1
			}
			f.CellFormat(half-30, 6, fit(f, cell[1], half-32), "", ln, "L", true, 0, "")
		}
	}
	f.Ln(4)
}

// fit shortens s with an ellipsis to fit width w in the current font.
func fit(f *fpdf.Fpdf, s string, w float64) string {
	if f.GetStringWidth(s) <= w {
		return s
	}
	r := []rune(s)
	for len(r) > 1 && f.GetStringWidth(string(r)+"…") > w {
		r = r[:len(r)-1]
	}
	return string(r) + "…"
}

func sexText(s string) string {
	return map[string]string{"F": "Female", "M": "Male", "O": "Other", "U": "Unknown"}[s]
}

func timeText(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// heading starts a section, on a new page when fewer than need millimetres
// remain, so that a heading never ends a page.
func (w *pdfWriter) heading(title string, need float64) {
	f := w.f
	_, ph := f.GetPageSize()
	if f.GetY()+need > ph-20 {
		f.AddPage()
	}
	w.color(colAccent)
	w.font("B", 10.5)
	f.CellFormat(w.width, 6, title, "", 1, "L", false, 0, "")
	w.draw(colRule)
	f.Line(pageMargin, f.GetY(), pageMargin+w.width, f.GetY())
	f.Ln(1.5)
	w.color(colInk)
}

func (w *pdfWriter) section(title, text string) {
	text = strings.TrimSpace(text)
	if text == "" {
		return
	}
	w.heading(title, 18)
	w.font("", 10)
	w.f.MultiCell(w.width, lineH, text, "", "L", false)
	w.f.Ln(3)
}

func (w *pdfWriter) lesion() {
	c := w.d.Case
	var parts []string
	if c.LesionBodySite != nil && *c.LesionBodySite != "" {
		parts = append(parts, "Body site: "+*c.LesionBodySite)
	}
	if c.LesionDuration != nil && *c.LesionDuration != "" {
		parts = append(parts, "Duration: "+*c.LesionDuration)
	}
	w.section("Lesion", strings.Join(parts, "\n"))
}

func (w *pdfWriter) studies() {
	var lines []string
	for _, st := range w.d.Studies {
		desc := st.Description
		if desc == "" {
			desc = "Study"
		}
		line := fmt.Sprintf("%s — %s, %d series, %d images", desc, strings.Join(st.Modalities, "/"), st.Series, st.Instances)
		if date := dicomDate(st.StudyDate); date != "" {
			line += ", " + date
		}
		if st.AccessionNumber != "" {
			line += ", accession " + st.AccessionNumber
		}
		lines = append(lines, line+"\nStudy Instance UID "+st.StudyInstanceUID)
	}
	w.section("Imaging studies", strings.Join(lines, "\n"))
}

func (w *pdfWriter) diagnoses() {
	f := w.f
	w.heading("Diagnoses", 20)
	codeW, sysW := 30.0, 28.0
	textW := w.width - codeW - sysW
	w.fill(colPanel)
	w.color(colMuted)
	w.font("B", 8)
	f.CellFormat(textW, 6, "  Diagnosis", "", 0, "L", true, 0, "")
	f.CellFormat(sysW, 6, "System", "", 0, "L", true, 0, "")
	f.CellFormat(codeW, 6, "Code", "", 1, "L", true, 0, "")
	w.color(colInk)
	for _, dx := range w.d.Report.Diagnoses {
		sys, code := dx.System, dx.Code
		if sys == "" {
			sys, code = "—", "—"
		}
		w.font("", 10)
		lines := f.SplitText(dx.Text, textW-4)
		h := float64(max(len(lines), 1)) * lineH
		y := f.GetY()
		f.SetX(pageMargin + 2)
		f.MultiCell(textW-2, lineH, dx.Text, "", "L", false)
		end := f.GetY()
		f.SetXY(pageMargin+textW, y)
		w.font("", 9)
		f.CellFormat(sysW, lineH, sys, "", 0, "L", false, 0, "")
		f.SetFont("gomono", "", 9.5)
		f.CellFormat(codeW, lineH, code, "", 0, "L", false, 0, "")
		f.SetY(max(end, y+h))
		w.draw(colRule)
		f.Line(pageMargin, f.GetY(), pageMargin+w.width, f.GetY())
	}
	f.Ln(4)
}

// images lays out the key images three to a row, each scaled to fit its
// cell, with a caption.
func (w *pdfWriter) images(images []keyImage, missing int) {
	f := w.f
	const perRow, gap, capH = 3, 4.0, 8.0
	cell := (w.width - gap*(perRow-1)) / perRow
	w.heading("Key images", cell+capH+10)
	_, ph := f.GetPageSize()
	for i, im := range images {
		col := i % perRow
		if col == 0 && i > 0 {
			f.SetY(f.GetY() + cell + capH + gap)
		}
		if col == 0 && f.GetY()+cell+capH > ph-20 {
			f.AddPage()
		}
		x, y := pageMargin+float64(col)*(cell+gap), f.GetY()
		name := fmt.Sprintf("key-%d", i)
		info := f.RegisterImageOptionsReader(name, fpdf.ImageOptions{ImageType: im.Type}, bytes.NewReader(im.Data))
		if f.Err() || info == nil {
			f.ClearError()
			missing++
			continue
		}
		iw, ih := info.Width(), info.Height()
		scale := min(cell/iw, cell/ih)
		dw, dh := iw*scale, ih*scale
		w.fill([3]int{20, 20, 20})
		f.Rect(x, y, cell, cell, "F")
		f.ImageOptions(name, x+(cell-dw)/2, y+(cell-dh)/2, dw, dh, false, fpdf.ImageOptions{ImageType: im.Type}, 0, "")
		w.color(colMuted)
		w.font("", 7.5)
		f.SetXY(x, y+cell+1)
		f.CellFormat(cell, 4, fit(f, fmt.Sprintf("%d. %s", i+1, im.Caption), cell), "", 0, "L", false, 0, "")
		f.SetXY(pageMargin, y)
		w.color(colInk)
	}
	if len(images) > 0 {
		f.SetY(f.GetY() + cell + capH)
	}
	if missing > 0 {
		w.color(colMuted)
		w.font("I", 8.5)
		f.MultiCell(w.width, 4.5, fmt.Sprintf("%d image(s) could not be included; view them in Teleread.", missing), "", "L", false)
		w.color(colInk)
	}
	f.Ln(3)
}

func (w *pdfWriter) signatures() {
	f, r := w.f, w.d.Report
	w.heading("Signatures", 24)
	if len(r.Signatures) == 0 {
		w.color(colMuted)
		w.font("I", 10)
		f.MultiCell(w.width, lineH, "Not signed.", "", "L", false)
		w.color(colInk)
		f.Ln(3)
		return
	}
	for _, s := range r.Signatures {
		kind := "Final signature"
		if s.Kind == StatusPreliminary {
			kind = "Preliminary signature (first read)"
		}
		w.font("B", 10)
		f.CellFormat(w.width, lineH+0.5, fmt.Sprintf("%s — %s", s.SignerName, kind), "", 1, "L", false, 0, "")
		w.color(colMuted)
		w.font("", 8.5)
		f.CellFormat(w.width, 4.5, "Signed electronically "+s.SignedAt.UTC().Format("2006-01-02 15:04:05 UTC"), "", 1, "L", false, 0, "")
		f.SetFont("gomono", "", 7)
		f.CellFormat(w.width, 4, "SHA-256 "+s.SHA256, "", 1, "L", false, 0, "")
		w.color(colInk)
		f.Ln(2)
	}
	w.color(colMuted)
	f.SetFont("gomono", "", 7)
	f.CellFormat(w.width, 4, "Content SHA-256 "+r.ContentSHA256, "", 1, "L", false, 0, "")
	w.color(colInk)
	f.Ln(3)
}

func (w *pdfWriter) addenda() {
	f := w.f
	w.heading("Addenda", 24)
	for i, a := range w.d.Report.Addenda {
		w.font("B", 10)
		f.CellFormat(w.width, lineH+0.5, fmt.Sprintf("Addendum %d — %s, %s", i+1, a.SignerName,
			a.SignedAt.UTC().Format("2006-01-02 15:04 UTC")), "", 1, "L", false, 0, "")
		w.font("", 10)
		f.MultiCell(w.width, lineH, a.Text, "", "L", false)
		w.color(colMuted)
		f.SetFont("gomono", "", 7)
		f.CellFormat(w.width, 4, "SHA-256 "+a.SHA256, "", 1, "L", false, 0, "")
		w.color(colInk)
		f.Ln(3)
	}
}
