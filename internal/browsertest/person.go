package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// The helpers below find things as a person does: by the text they show
// or the label they carry, never by markup details (ids, classes).

// visibleText is a JavaScript function of one string: whether the page's
// visible text contains it (case and white space folded).
const findText = `(function(want) {
  const norm = s => (s || '').replace(/\s+/g, ' ').trim().toLowerCase();
  return norm(document.body ? document.body.innerText : '').includes(norm(want));
})`

// WaitText waits until the page shows text.
func (p *Tab) WaitText(text string) {
	p.t.Helper()
	p.WaitJS("text "+quote(text), findText+"("+quote(text)+")")
}

// HasText reports whether the page shows text now.
func (p *Tab) HasText(text string) bool {
	p.t.Helper()
	return Eval[bool](p, "has text "+quote(text), findText+"("+quote(text)+")")
}

// WaitJS polls a JavaScript expression until it is truthy, within Timeout.
func (p *Tab) WaitJS(what, js string) {
	p.t.Helper()
	p.WaitJSFor(what, Timeout, js)
}

// WaitJSFor is WaitJS with its own time limit.
func (p *Tab) WaitJSFor(what string, limit time.Duration, js string) {
	p.t.Helper()
	p.RunFor("wait for "+what, limit, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for {
			_, err := chromedp.Poll[any](js, chromedp.WithPollingInterval(100*time.Millisecond))(ctx, t)
			if err == nil || ctx.Err() != nil || !navigating(err) {
				return err
			}
			// The page went on to another (a form was sent): ask the new one.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}))
}

// navigating reports whether err says the page being asked went away
// (navigated, reloaded) rather than that the question failed.
func navigating(err error) bool {
	msg := err.Error()
	for _, m := range []string{"navigated or closed", "Not attached to an active page", "Execution context was destroyed",
		"Cannot find context", "context with specified id"} {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

// control finds the element a person would mean by label: a button, link
// or summary whose text (or aria-label, or value) is label, else one whose
// text contains it; or the form control of a <label> with that text, or
// with that aria-label or placeholder. It marks it with data-bt-target and
// returns whether it found one.
const control = `(function(label) {
  const norm = s => (s || '').replace(/\s+/g, ' ').trim().toLowerCase();
  const want = norm(label);
  document.querySelectorAll('[data-bt-target]').forEach(e => e.removeAttribute('data-bt-target'));
  const shown = e => !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length);
  const mark = e => { e.setAttribute('data-bt-target', '1'); return true; };
  const clickable = Array.from(document.querySelectorAll(
    'button, a[href], summary, [role=button], [role=tab], [role=menuitem], input[type=submit], input[type=button], input[type=checkbox], input[type=radio]')).filter(shown);
  const name = e => norm(e.getAttribute('aria-label') || e.innerText || e.value || e.title);
  let e = clickable.find(e => name(e) === want) || clickable.find(e => name(e).includes(want));
  if (e) return mark(e);
  for (const l of document.querySelectorAll('label')) {
    if (norm(l.innerText) === want || norm(l.innerText).includes(want)) {
      const c = l.control || l.querySelector('input, select, textarea');
      if (c && shown(c)) return mark(c);
    }
  }
  const fields = Array.from(document.querySelectorAll('input, select, textarea')).filter(shown);
  e = fields.find(f => norm(f.getAttribute('aria-label')) === want || norm(f.placeholder) === want);
  return e ? mark(e) : false;
})`

const target = `[data-bt-target="1"]`

// find waits for the control a person calls label and returns its selector.
func (p *Tab) find(label string) string {
	p.t.Helper()
	p.WaitJS("control "+quote(label), control+"("+quote(label)+")")
	return target
}

// Click clicks the button, link or labelled control a person calls label.
func (p *Tab) Click(label string) {
	p.t.Helper()
	sel := p.find(label)
	p.Run("click "+quote(label), chromedp.Click(chromedp.CSS(sel)))
}

// Fill types value into the field labelled label, replacing what is there.
func (p *Tab) Fill(label, value string) {
	p.t.Helper()
	sel := p.find(label)
	p.Run("fill "+quote(label), chromedp.Clear(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), value))
}

// Login signs in through the sign-in page at baseURL+"/login" with the
// fields labelled as a person reads them, and waits for the page after it.
func (p *Tab) Login(baseURL, email, password string) {
	p.t.Helper()
	p.Open(baseURL + "/login")
	p.Fill("e-mail", email)
	p.Fill("password", password)
	p.Click("sign in")
	p.WaitJS("signed in", `!location.pathname.startsWith('/login') || document.querySelector('[role=alert]') !== null`)
}

// Screenshot saves what the tab shows (the whole page) as name.png in the
// test's artefact directory and returns its path; it logs the path.
func (p *Tab) Screenshot(name string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, Timeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Logf("browsertest: screenshot %s: %v", name, err)
		return ""
	}
	if err := os.MkdirAll(p.b.dir, 0o755); err != nil {
		p.t.Logf("browsertest: screenshot %s: %v", name, err)
		return ""
	}
	path := filepath.Join(p.b.dir, safeName.ReplaceAllString(name, "_")+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Logf("browsertest: screenshot %s: %v", name, err)
		return ""
	}
	p.t.Logf("browsertest: screenshot %s", path)
	return path
}

func quote(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("browsertest: quote %q: %v", s, err))
	}
	return strings.ReplaceAll(string(b), "</", `<\/`)
}
