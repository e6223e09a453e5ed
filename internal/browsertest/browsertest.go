// Package browsertest drives Debian's headless Chromium from Go tests with
// chromedp, the way a person uses the pages: open a URL, sign in through
// the page, wait for a text, click what carries a label, type into a
// labelled field, and keep a screenshot of what was on the screen as a
// test artefact.
//
// Chromium comes from Debian's chromium package (scripts/test-tools.sh
// installs it). Outside CI a missing Chromium skips the test with a
// message; under CI=true it fails it.
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Width and Height are the window size of every browser: the smallest
// screen the pages must be readable at.
const (
	Width  = 1280
	Height = 800
)

// Chromium finds the browser: TELEREAD_CHROMIUM when set, else the first
// of chromium, chromium-browser, google-chrome on PATH.
func Chromium() (string, error) {
	if p := os.Getenv("TELEREAD_CHROMIUM"); p != "" {
		return exec.LookPath(p)
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium on PATH (Debian: apt-get install chromium, or run scripts/test-tools.sh)")
}

// Require skips t (fails it under CI=true) when what is not available,
// saying why and how to get it.
func Require(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true: %v", what, err)
	}
	t.Skipf("%s not available, skipping: %v", what, err)
}

// Browser is one headless Chromium with its own temporary profile.
type Browser struct {
	t     testing.TB
	alloc context.Context
	// root keeps the browser process alive while tabs come and go.
	root context.Context
	dir  string
}

// New starts Chromium for t (headless, without its sandbox when run as
// root, a temporary profile, software WebGL) and stops it at cleanup.
func New(t testing.TB) *Browser {
	t.Helper()
	path, err := Chromium()
	Require(t, "Chromium", err)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(Width, Height),
		// WebGL without a GPU (OHIF draws with it): SwiftShader.
		chromedp.Flag("use-angle", "swiftshader"),
		chromedp.Flag("enable-unsafe-swiftshader", true),
		chromedp.Flag("ignore-gpu-blocklist", true),
		chromedp.Flag("lang", "en-GB"),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	root, cancelRoot := chromedp.NewContext(alloc)
	if err := chromedp.Do(root); err != nil {
		cancelRoot()
		cancelAlloc()
		Require(t, "Chromium", fmt.Errorf("start %s: %w", path, err))
	}
	t.Cleanup(func() {
		cancelRoot()
		cancelAlloc()
	})
	return &Browser{t: t, alloc: alloc, root: root, dir: ArtefactDir(t)}
}

// ArtefactDir is where t's screenshots go: $TELEREAD_ARTEFACTS/<test
// name>, else <system temp>/teleread-artefacts/<test name>. It is kept
// after the test (docs and reviewers use the pictures).
func ArtefactDir(t testing.TB) string {
	root := os.Getenv("TELEREAD_ARTEFACTS")
	if root == "" {
		root = filepath.Join(os.TempDir(), "teleread-artefacts")
	}
	return filepath.Join(root, safeName.ReplaceAllString(t.Name(), "_"))
}

var safeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Tab is one page of the browser, bound to a test.
type Tab struct {
	t   testing.TB
	ctx context.Context
	b   *Browser

	mu   sync.Mutex
	logs []string
}

// Timeout bounds every step of a tab (one wait, one click).
var Timeout = 30 * time.Second

// Tab opens a new tab, closed at t's cleanup. The page's console errors
// and uncaught exceptions are kept for failure messages (Logs).
func (b *Browser) Tab(t testing.TB) *Tab {
	t.Helper()
	tab := &Tab{t: t, b: b}
	ctx, cancel := chromedp.NewContext(b.root, chromedp.WithListener(func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, strings.Trim(string(a.Value), `"`)+a.Description)
				}
				tab.log(string(e.Type) + ": " + strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			tab.log(fmt.Sprintf("exception: %s (%s:%d)", msg, d.URL, d.LineNumber+1))
		}
	}))
	tab.ctx = ctx
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("browsertest: new tab: %v", err)
	}
	t.Cleanup(cancel)
	return tab
}

func (p *Tab) log(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.logs) < 200 {
		p.logs = append(p.logs, s)
	}
}

// Logs are the console errors, warnings and exceptions the page had.
func (p *Tab) Logs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.logs...)
}

// Context is the tab's chromedp context, for actions this package has no
// helper for.
func (p *Tab) Context() context.Context { return p.ctx }

// Run runs actions within Timeout, failing the test (with a screenshot
// and the page's console errors) when one fails.
func (p *Tab) Run(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	p.RunFor(what, Timeout, actions...)
}

// RunFor is Run with its own time limit.
func (p *Tab) RunFor(what string, limit time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, limit)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.failed(what, err)
	}
}

func (p *Tab) failed(what string, err error) {
	p.t.Helper()
	shot := p.Screenshot("failed-" + what)
	p.t.Fatalf("browsertest: %s: %v\nscreenshot: %s\nconsole:\n  %s", what, err, shot, strings.Join(p.Logs(), "\n  "))
}

// SetCookie gives the tab a cookie for the origin of baseURL (a session
// made through the API, say) before it opens a page there.
func (p *Tab) SetCookie(baseURL, name, value string) {
	p.t.Helper()
	httpOnly := true
	p.Run("set cookie "+name, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, network.SetCookie, network.SetCookieParams{Name: name, Value: value, URL: baseURL,
			Path: "/", HTTPOnly: &httpOnly})
		return err
	}))
}

// Open navigates to url and waits for the page to load, within Timeout.
func (p *Tab) Open(url string) {
	p.t.Helper()
	p.OpenFor(url, Timeout)
}

// OpenFor is Open with its own time limit (a page that loads a big
// application, such as OHIF, on a busy machine).
func (p *Tab) OpenFor(url string, limit time.Duration) {
	p.t.Helper()
	p.RunFor("open "+url, limit, chromedp.Navigate(url))
}

// Location is the tab's current URL.
func (p *Tab) Location() string {
	p.t.Helper()
	return Eval[string](p, "location", "location.href")
}

// Eval evaluates a JavaScript expression in tab p and returns its value
// (a promise's, once it settles).
func Eval[T any](p *Tab, what, js string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, Timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		p.failed(what, err)
	}
	return v
}
