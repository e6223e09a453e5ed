package reports

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/teleread/teleread/internal/cases"
)

// What is hashed. A signature must bind the words to the patient and to the
// case, so the content hash covers the report and case ids, the patient's
// identity and every field the specialist wrote, as canonical JSON (a fixed
// struct: fixed key order, no whitespace). Each signature then hashes that
// content hash with its kind, signer and time; each addendum hashes its own
// text with the report's content hash, its signer and time. Times are UTC
// with microseconds, as PostgreSQL stores them, so a stored row recomputes
// to the same hash.

type hashedPatient struct {
	Name      string `json:"name"`
	BirthDate string `json:"birth_date"`
	Sex       string `json:"sex"`
	MRN       string `json:"mrn"`
}

type hashedContent struct {
	ReportID        uuid.UUID     `json:"report_id"`
	CaseID          uuid.UUID     `json:"case_id"`
	Version         int32         `json:"version"`
	Patient         hashedPatient `json:"patient"`
	Findings        string        `json:"findings"`
	Impression      string        `json:"impression"`
	Diagnoses       []Diagnosis   `json:"diagnoses"`
	Recommendations string        `json:"recommendations"`
	FollowUp        string        `json:"follow_up_interval"`
	Critical        bool          `json:"critical"`
}

type hashedSignature struct {
	ReportID      uuid.UUID `json:"report_id"`
	Kind          string    `json:"kind"`
	ContentSHA256 string    `json:"content_sha256"`
	SignerID      uuid.UUID `json:"signer_id"`
	SignerName    string    `json:"signer_name"`
	SignedAt      string    `json:"signed_at"`
}

type hashedAddendum struct {
	ReportID      uuid.UUID `json:"report_id"`
	ContentSHA256 string    `json:"content_sha256"`
	Text          string    `json:"text"`
	SignerID      uuid.UUID `json:"signer_id"`
	SignerName    string    `json:"signer_name"`
	SignedAt      string    `json:"signed_at"`
}

func sum(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("reports: hash: %v", err)) // fixed structs of strings always marshal
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// hashTime is the canonical form of a signing time.
func hashTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

// signingTime is t as it will be stored.
func signingTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// contentHash is the SHA-256 of r's signed content for case c.
func contentHash(r Report, c cases.Case) string {
	d := r.Diagnoses
	if d == nil {
		d = []Diagnosis{}
	}
	return sum(hashedContent{ReportID: r.ID, CaseID: r.CaseID, Version: r.Version,
		Patient: hashedPatient{Name: c.PatientName, BirthDate: c.PatientBirthDate.Format(time.DateOnly),
			Sex: c.PatientSex, MRN: c.PatientMrn},
		Findings: r.Findings, Impression: r.Impression, Diagnoses: d, Recommendations: r.Recommendations,
		FollowUp: r.FollowUp, Critical: r.Critical})
}

func signatureHash(reportID uuid.UUID, s Signature) string {
	return sum(hashedSignature{ReportID: reportID, Kind: s.Kind, ContentSHA256: s.ContentSHA256, SignerID: s.SignerID,
		SignerName: s.SignerName, SignedAt: hashTime(s.SignedAt)})
}

func addendumHash(reportID uuid.UUID, contentSHA256 string, a Addendum) string {
	return sum(hashedAddendum{ReportID: reportID, ContentSHA256: contentSHA256, Text: a.Text, SignerID: a.SignerID,
		SignerName: a.SignerName, SignedAt: hashTime(a.SignedAt)})
}

// Verify recomputes every hash of a signed report of case c and returns an
// error naming the first that does not match.
func Verify(r Report, c cases.Case) error {
	if !r.Signed() {
		return nil
	}
	want := contentHash(r, c)
	if r.ContentSHA256 != want {
		return fmt.Errorf("report %s: the content does not match its signed hash", r.ID)
	}
	for _, s := range r.Signatures {
		if s.ContentSHA256 != want || s.SHA256 != signatureHash(r.ID, s) {
			return fmt.Errorf("report %s: the %s signature does not match", r.ID, s.Kind)
		}
	}
	for _, a := range r.Addenda {
		if a.SHA256 != addendumHash(r.ID, want, a) {
			return fmt.Errorf("report %s: addendum %s does not match its hash", r.ID, a.ID)
		}
	}
	return nil
}
