package browsertest_test

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/browsertest"
)

// site is a tiny web site: a sign-in form like Teleread's (labelled
// fields, a button) that sets a cookie, and a page that says who is signed
// in and greets whoever is typed into its field.
func site() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>Sign in</title><form method="post" action="/login">
<label for="email">E-mail address</label><input id="email" name="email" type="email">
<label for="password">Password</label><input id="password" name="password" type="password">
<button type="submit">Sign in</button></form>`)
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if r.PostFormValue("password") != "secret" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `<p role="alert">The e-mail address or the password is wrong.</p>`)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "who", Value: r.PostFormValue("email"), Path: "/"})
		http.Redirect(w, r, "/home", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /home", func(w http.ResponseWriter, r *http.Request) {
		who := "nobody"
		if c, err := r.Cookie("who"); err == nil {
			who = c.Value
		}
		fmt.Fprintf(w, `<!doctype html><title>Home</title><p>Signed in as %s</p>
<label>Your name <input id="n"></label>
<button type="button" aria-label="Say hello" onclick="document.getElementById('out').textContent = 'Hello, ' + document.getElementById('n').value">Hi</button>
<p id="out"></p>`, html.EscapeString(who))
	})
	return mux
}

func TestPerson(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(site())
	t.Cleanup(srv.Close)
	br := browsertest.New(t)

	t.Run("LoginFillClick", func(t *testing.T) {
		tab := br.Tab(t)
		tab.Login(srv.URL, "ada@example.org", "secret")
		tab.WaitText("Signed in as ada@example.org")
		require.Equal(t, srv.URL+"/home", tab.Location())
		tab.Fill("your name", "Ada")
		tab.Click("say hello")
		tab.WaitText("hello, ada")
		require.False(t, tab.HasText("Hello, Bob"))
		shot := tab.Screenshot("home")
		st, err := os.Stat(shot)
		require.NoError(t, err)
		require.Positive(t, st.Size())
		png, err := os.ReadFile(shot)
		require.NoError(t, err)
		require.Equal(t, "\x89PNG", string(png[:4]))
	})
	t.Run("WrongPassword", func(t *testing.T) {
		tab := br.Tab(t)
		tab.Login(srv.URL, "ada@example.org", "wrong")
		tab.WaitText("the password is wrong")
	})
	t.Run("Cookie", func(t *testing.T) {
		tab := br.Tab(t)
		tab.SetCookie(srv.URL, "who", "grace")
		tab.Open(srv.URL + "/home")
		tab.WaitText("Signed in as grace")
		require.Equal(t, 3, browsertest.Eval[int](tab, "arithmetic", `Promise.resolve(1 + 2)`))
	})
}

func TestArtefactDir(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TELEREAD_ARTEFACTS", dir)
	require.Equal(t, dir+"/TestArtefactDir", browsertest.ArtefactDir(t))
	t.Run("sub test/with spaces", func(t *testing.T) {
		require.Equal(t, dir+"/TestArtefactDir_sub_test_with_spaces", browsertest.ArtefactDir(t))
	})
}
