package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/teleread/teleread/internal/cases"
)

// sitePages are the pages of site staff: the case list, the new-case
// form, the case page with its timeline and uploads, incoming studies.
var sitePages = pageSet{
	{method: http.MethodGet, path: "/cases", rule: siteUsers, handle: (*Web).caseList},
}

// caseListView is the case list's data.
type caseListView struct {
	Cases  []cases.Case
	Status string
	// Statuses are the filter's choices.
	Statuses []cases.Status
}

func (w *Web) caseList(c *gin.Context) {
	status := c.Query("status")
	f := cases.Filter{Limit: 100}
	if status != "" {
		f.Status = &status
	}
	list, err := w.cases.List(c.Request.Context(), principal(c), f)
	if err != nil {
		w.fail(c, err)
		return
	}
	w.render(c, http.StatusOK, "site_cases", caseListView{Cases: list, Status: status, Statuses: cases.Statuses})
}
