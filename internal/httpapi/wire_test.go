package httpapi_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/api"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/edge"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake"
	"github.com/teleread/teleread/internal/reports"
)

// TestWireConstantsMatchTheDomain holds the constants package api gives
// clients (it imports no domain package) to the values the domain packages
// write: httpapi passes those through as plain strings.
func TestWireConstantsMatchTheDomain(t *testing.T) {
	t.Parallel()
	str := func(ss ...cases.Status) []string {
		out := make([]string, len(ss))
		for i, s := range ss {
			out[i] = string(s)
		}
		return out
	}
	require.Equal(t, str(cases.StatusDraft, cases.StatusSubmitted, cases.StatusRouted, cases.StatusInReview,
		cases.StatusInfoRequested, cases.StatusReported, cases.StatusDelivered, cases.StatusAcknowledged,
		cases.StatusCancelled), api.CaseStatuses)
	for _, c := range [][2]string{
		{api.RoleSiteStaff, string(identity.RoleSiteStaff)},
		{api.RoleReferringPhysician, string(identity.RoleReferringPhysician)},
		{api.RoleSpecialist, string(identity.RoleSpecialist)},
		{api.RoleOrgAdmin, string(identity.RoleOrgAdmin)},
		{api.RolePlatformAdmin, string(identity.RolePlatformAdmin)},
		{api.OrgSite, string(identity.OrgSite)},
		{api.OrgReadingGroup, string(identity.OrgReadingGroup)},
		{api.OrgPlatform, string(identity.OrgPlatform)},
		{api.SpecialtyDermatology, identity.SpecialtyDermatology},
		{api.SpecialtyRadiology, identity.SpecialtyRadiology},
		{api.FileDICOM, intake.KindDICOM},
		{api.FilePhoto, intake.KindPhoto},
		{api.PreviewPending, intake.PreviewPending},
		{api.PreviewReady, intake.PreviewReady},
		{api.PreviewUnavailable, intake.PreviewUnavailable},
		{api.PreviewFailed, intake.PreviewFailed},
		{api.UploadPending, intake.UploadPending},
		{api.UploadCompleting, intake.UploadCompleting},
		{api.UploadCompleted, intake.UploadCompleted},
		{api.UploadFailed, intake.UploadFailed},
		{api.UploadExpired, intake.UploadExpired},
		{api.ReportDraft, reports.StatusDraft},
		{api.ReportPreliminary, reports.StatusPreliminary},
		{api.ReportFinal, reports.StatusFinal},
		{api.SystemICD10, reports.SystemICD10},
		{api.SystemSNOMED, reports.SystemSNOMED},
		{api.FHIRContentType, reports.FHIRContentType},
	} {
		require.Equal(t, c[1], c[0])
	}
}

// TestProblemMatchesTheEdge holds api.Problem, which clients decode, to
// edge.Problem, which the server encodes.
func TestProblemMatchesTheEdge(t *testing.T) {
	t.Parallel()
	names := func(typ reflect.Type) []string {
		var out []string
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			out = append(out, name)
		}
		slices.Sort(out)
		return out
	}
	require.Equal(t, names(reflect.TypeFor[edge.Problem]()), names(reflect.TypeFor[api.Problem]()))
}
