package reports

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/delivery"
)

// SetEnqueue replaces the delivery hand-off, so that a test can look inside
// the signing transaction or make it fail.
func SetEnqueue(s *Service, f func(ctx context.Context, tx pgx.Tx, jobs cases.JobInserter, n delivery.Notice) error) {
	s.enqueue = f
}

// CheckDiagnosticReport holds a FHIR document to the R4 rules.
func CheckDiagnosticReport(t *testing.T, raw []byte) map[string]any {
	return checkDiagnosticReport(t, raw)
}

// Rasterise renders a PDF with pdftoppm, failing on a broken one.
func Rasterise(t *testing.T, pdf []byte, name string) { rasterise(t, pdf, name) }
