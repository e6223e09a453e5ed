package browser_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/browsertest"
)

// auditJS lists what keeps a person from using the page shown: a page
// wider than the screen (a sideways scroll), a form control without a
// label, a link or button without a name a screen reader can say, and a
// control that cannot be reached with the keyboard (taken out of the tab
// order, or that does not take the focus).
const auditJS = `(function() {
  const out = [];
  // Shown: laid out, not hidden, and not inside a closed <details>
  // (whose content Chromium lays out but does not show; a person opens
  // it first, and its summary is checked like any control).
  const visible = el => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length) &&
    getComputedStyle(el).visibility !== 'hidden' &&
    !(el.closest('details:not([open])') && !el.closest('summary'));
  const describe = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (el.name ? '[name=' + el.name + ']' : '') + ' "' + (el.innerText || el.value || '').trim().slice(0, 40) + '"';
  if (document.documentElement.scrollWidth > window.innerWidth + 1) {
    let widest = '';
    for (const el of document.body.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (r.right > window.innerWidth + 1 && visible(el)) { widest = describe(el); break; }
    }
    out.push('the page is ' + document.documentElement.scrollWidth + ' px wide on a ' + window.innerWidth + ' px screen (first too wide: ' + widest + ')');
  }
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.type === 'hidden' || el.type === 'submit' || el.type === 'button' || !visible(el)) continue;
    const named = (el.labels && el.labels.length) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || el.title;
    if (!named) out.push('no label: ' + describe(el));
  }
  for (const el of document.querySelectorAll('a[href], button, input[type=submit], input[type=button], [role=button]')) {
    if (!visible(el)) continue;
    const name = (el.innerText || el.value || el.getAttribute('aria-label') || el.title || '').trim() ||
      (el.querySelector('img[alt]') && el.querySelector('img[alt]').alt);
    if (!name) out.push('no accessible name: ' + describe(el));
  }
  // (A tabindex of -1 elsewhere is a skip link's target, such as <main>.)
  for (const el of document.querySelectorAll('a[href], button, input, select, textarea, summary')) {
    if (el.disabled || el.type === 'hidden' || !visible(el)) continue;
    if (el.getAttribute('tabindex') === '-1') { out.push('out of the tab order: ' + describe(el)); continue; }
    el.focus();
    if (document.activeElement !== el) out.push('does not take the keyboard focus: ' + describe(el));
  }
  if (document.activeElement) document.activeElement.blur();
  return out;
})()`

// TestBrowserUsable opens the main page of each role, and the pages of a
// case, at 1280x800 (a clinic's desktop) and 768x1024 (a tablet held
// upright), and holds each to auditJS: readable without a sideways
// scroll, every control labelled and reachable by keyboard. It saves a
// screenshot of each page at the tablet size.
func TestBrowserUsable(t *testing.T) {
	w := newWorld(t)

	// The audit itself finds what it looks for.
	bad := w.br.Tab(t)
	bad.Run("viewport", chromedp.EmulateViewport(768, 1024))
	bad.Open("data:text/html,<main><input name=q><button></button><a href=/x tabindex=-1>x</a>" +
		"<div style='width:2000px'>wide</div></main>")
	found := strings.Join(browsertest.Eval[[]string](bad, "audit of a bad page", auditJS), "\n")
	for _, want := range []string{"px wide on a 768 px screen", "no label: input[name=q]", "no accessible name: button", "out of the tab order: a"} {
		require.Contains(t, found, want)
	}

	site := w.signIn(w.staff)
	caseURL, _ := w.openCase(site, "Itchy patch on the forearm. Eczema?")
	caseURL = strings.TrimPrefix(caseURL, w.base)
	signOut(site)

	pages := []struct {
		who   *person
		paths []string
	}{
		{nil, []string{"/login"}},
		{&w.staff, []string{"/cases", "/cases/new", caseURL, "/incoming", "/inbox"}},
		{&w.gp, []string{"/inbox", "/my-cases", caseURL}},
		{&w.derm, []string{"/worklist"}},
		{&w.admin, []string{"/admin", "/admin/users", "/admin/groups", "/admin/rules", "/admin/webhooks", "/admin/unrouted",
			"/admin/audit", "/admin/turnaround"}},
	}
	sizes := []struct {
		name string
		w, h int64
	}{{"desktop", 1280, 800}, {"tablet", 768, 1024}}

	var problems []string
	for _, pg := range pages {
		var tab *browsertest.Tab
		if pg.who == nil {
			tab = w.br.Tab(t)
		} else {
			tab = w.signIn(*pg.who)
		}
		for _, size := range sizes {
			tab.Run("viewport "+size.name, chromedp.EmulateViewport(size.w, size.h))
			for _, path := range pg.paths {
				tab.Open(w.base + path)
				tab.WaitJS("page "+path, `document.readyState === 'complete'`)
				for _, p := range browsertest.Eval[[]string](tab, "audit "+path, auditJS) {
					problems = append(problems, fmt.Sprintf("%s at %s (%dx%d): %s", path, size.name, size.w, size.h, p))
				}
				if size.name == "tablet" {
					tab.Screenshot("tablet" + strings.ReplaceAll(path, "/", "-"))
				}
			}
		}
		if pg.who != nil {
			signOut(tab)
		}
	}
	require.Empty(t, problems, "what keeps a person from using the pages:\n%s", strings.Join(problems, "\n"))
}
