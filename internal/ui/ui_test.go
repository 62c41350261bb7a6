package ui_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
)

func TestPagesNeedASession(t *testing.T) {
	f := start(t)
	b := newBrowser(t, f.srv.URL)
	for _, path := range []string{"/", "/deliveries?status=failed", "/deliveries/d-1", "/partners", "/partners/acme", "/nowhere"} {
		code, loc, _ := b.do("GET", path, nil)
		if code != http.StatusSeeOther || loc != "/login?next="+url.QueryEscape(path) {
			t.Errorf("GET %s: %d to %q, want a redirect to the sign-in page", path, code, loc)
		}
	}
	if code, _, _ := b.do("POST", "/deliveries/d-1/retry", url.Values{"csrf": {"x"}}); code != http.StatusForbidden {
		t.Errorf("POST without a session: %d, want 403", code)
	}
	if code, _, _ := b.do("GET", "/ui/static/ui.css", nil); code != 200 {
		t.Errorf("the stylesheet needs no session, got %d", code)
	}
	// The API is untouched: its own auth, its own JSON errors.
	if code, _, body := b.do("GET", "/v1/deliveries", nil); code != 401 || !strings.Contains(body, `"unauthorized"`) {
		t.Errorf("GET /v1/deliveries without a token: %d %s", code, body)
	}
	if code, _, body := b.do("GET", "/v1/nothing", nil); code != 401 && code != 404 || !strings.Contains(body, `"code"`) {
		t.Errorf("GET /v1/nothing: %d %s", code, body)
	}
	if code, _, _ := b.do("GET", "/healthz", nil); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
}

func TestSignIn(t *testing.T) {
	f := start(t)
	b := newBrowser(t, f.srv.URL)
	_, _, page := b.do("GET", "/login?next=/partners", nil)
	csrf := b.csrf(page)

	code, _, body := b.do("POST", "/login", url.Values{"csrf": {csrf}, "token": {"wrong-token-0123456789"}, "next": {"/partners"}})
	if code != http.StatusUnauthorized || !strings.Contains(body, "not a valid API token") {
		t.Fatalf("wrong token: %d\n%s", code, body)
	}
	if b.cookies["syndicate_session"] != nil {
		t.Fatal("a wrong token got a session")
	}
	if code, _, _ := b.do("POST", "/login", url.Values{"token": {token}}); code != http.StatusForbidden {
		t.Fatalf("sign-in without the form's CSRF token: %d, want 403", code)
	}
	if b.cookies["syndicate_session"] != nil {
		t.Fatal("a sign-in without CSRF token got a session")
	}

	_, _, page = b.do("GET", "/login?next=/partners", nil)
	code, loc, _ := b.do("POST", "/login", url.Values{"csrf": {b.csrf(page)}, "token": {token}, "next": {"/partners"}})
	if code != http.StatusSeeOther || loc != "/partners" {
		t.Fatalf("sign in: %d to %q, want 303 to /partners", code, loc)
	}
	c := b.cookies["syndicate_session"]
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure || c.Path != "/" {
		t.Fatalf("session cookie: %+v", c)
	}
	if strings.Contains(c.Value, token) || len(c.Value) < 32 {
		t.Fatalf("the cookie must be a random session id, not the token: %q", c.Value)
	}
	if code, _, body := b.do("GET", "/partners", nil); code != 200 || !strings.Contains(body, "<h1>Partners</h1>") {
		t.Fatalf("partners page: %d\n%s", code, body)
	}
	// A session is not an API credential.
	if code, _, _ := b.do("GET", "/v1/deliveries", nil); code != 401 {
		t.Fatalf("the session cookie opened the API: %d", code)
	}
	// Redirects after sign-in stay on this site.
	other := newBrowser(t, f.srv.URL)
	_, _, page = other.do("GET", "/login", nil)
	if _, loc, _ := other.do("POST", "/login", url.Values{"csrf": {other.csrf(page)}, "token": {token}, "next": {"//evil.example/x"}}); loc != "/" {
		t.Fatalf("next=//evil.example redirected to %q", loc)
	}
}

func TestPostsNeedTheCSRFToken(t *testing.T) {
	f := start(t)
	f.partner("broken", brokenDestination(t))
	f.asset("ep-1", 1024)
	id := f.notify("ep-1", "broken")["broken"]
	f.wait(id, domain.StatusFailed)

	b := newBrowser(t, f.srv.URL)
	csrf := b.signIn(token)
	for name, form := range map[string]url.Values{"no token": {}, "wrong token": {"csrf": {strings.Repeat("0", len(csrf))}}} {
		if code, _, body := b.do("POST", "/deliveries/"+id+"/retry", form); code != http.StatusForbidden || !strings.Contains(body, "security token") {
			t.Fatalf("retry with %s: %d\n%s", name, code, body)
		}
		if code, _, _ := b.do("POST", "/logout", form); code != http.StatusForbidden {
			t.Fatalf("logout with %s: %d", name, code)
		}
	}
	if d := f.wait(id, domain.StatusFailed); d.Run != 0 {
		t.Fatalf("a refused POST retried the delivery: %+v", d)
	}

	// With the token, the same POST runs the API's retry.
	code, loc, _ := b.do("POST", "/deliveries/"+id+"/retry", url.Values{"csrf": {csrf}})
	if code != http.StatusSeeOther || loc != "/deliveries/"+id {
		t.Fatalf("retry: %d to %q", code, loc)
	}
	_, _, page := b.do("GET", loc, nil)
	if !strings.Contains(page, "Retried: the delivery is queued again, as run 1.") {
		t.Fatalf("the delivery page does not say what happened:\n%s", page)
	}
	if d, _ := f.srv.Store.GetDelivery(t.Context(), id); d.Run != 1 {
		t.Fatalf("after retry: %+v", d)
	}
	// Retrying what is not failed is refused by the state machine, and said so.
	f.wait(id, domain.StatusFailed)
	b.do("POST", "/deliveries/"+id+"/cancel", url.Values{"csrf": {csrf}})
	if _, _, page := b.do("GET", "/deliveries/"+id, nil); !strings.Contains(page, "Cannot cancel a delivery that is failed.") {
		t.Fatalf("cancel of a failed delivery:\n%s", page)
	}
}

func TestLogout(t *testing.T) {
	f := start(t)
	b := newBrowser(t, f.srv.URL)
	csrf := b.signIn(token)
	stolen := *b.cookies["syndicate_session"]
	// GET only asks; it changes nothing.
	if code, _, page := b.do("GET", "/logout", nil); code != 200 || b.csrf(page) != csrf {
		t.Fatalf("GET /logout: %d", code)
	}
	code, loc, _ := b.do("POST", "/logout", url.Values{"csrf": {csrf}})
	if code != http.StatusSeeOther || loc != "/login" {
		t.Fatalf("logout: %d to %q", code, loc)
	}
	if b.cookies["syndicate_session"] != nil {
		t.Fatal("logout did not clear the cookie")
	}
	// The old session id is dead on the server, not just forgotten by the browser.
	b.cookies["syndicate_session"] = &stolen
	if code, loc, _ := b.do("GET", "/", nil); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
		t.Fatalf("GET / with the old session: %d to %q", code, loc)
	}
}

func TestPages(t *testing.T) {
	f := start(t)
	dir := t.TempDir()
	f.partner("acme", domain.Destination{URL: "file://" + dir})
	f.partner("acme", domain.Destination{URL: "file://" + dir, MaxBytesPerSecond: 1 << 30}) // version 2
	f.partner("broken", brokenDestination(t))
	f.asset("ep-1", 4096)
	ids := f.notify("ep-1", "acme", "broken")
	f.wait(ids["acme"], domain.StatusDelivered)
	f.wait(ids["broken"], domain.StatusFailed)

	b := newBrowser(t, f.srv.URL)
	b.signIn(token)
	pages := []struct {
		path string
		code int
		want []string
	}{
		{"/", 200, []string{`id="count-delivered"`, `<span class="n">1</span><span class="label">delivered</span>`, `id="failing"`, "broken", "<svg"}},
		{"/deliveries", 200, []string{ids["acme"], ids["broken"]}},
		{"/deliveries?status=failed", 200, []string{ids["broken"]}},
		{"/deliveries?partner=acme&asset=ep-1", 200, []string{ids["acme"]}},
		{"/deliveries?status=lost", 200, []string{"is not a delivery status"}},
		{"/deliveries?id=nope", 200, []string{"No delivery has the id"}},
		{"/deliveries/" + ids["acme"], 200, []string{"delivered", `id="package"`, "version 2", `id="trace"`, "packaging",
			`id="verified-files"`, `<td class="mono">manifest.json</td>`, `<td class="verified">size</td>`}},
		{"/deliveries/" + ids["broken"], 200, []string{`id="retry"`, "failed", `data-confirm=`}},
		{"/deliveries/nope", 404, []string{"No delivery has the id"}},
		{"/partners", 200, []string{"acme", "broken"}},
		{"/partners/acme", 200, []string{`id="versions"`, "destination.max_bytes_per_second", "1073741824", `&#34;id&#34;: &#34;acme&#34;`}},
		{"/partners/acme?from=2&to=2", 200, []string{"Choose two different versions."}},
		{"/partners/acme?version=1", 200, []string{"Profile, version 1"}},
		{"/partners/nope", 404, []string{"No partner has the id"}},
	}
	for _, p := range pages {
		code, _, body := b.do("GET", p.path, nil)
		if code != p.code {
			t.Errorf("GET %s: %d, want %d", p.path, code, p.code)
			continue
		}
		for _, w := range p.want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s: no %q in the page", p.path, w)
			}
		}
	}
	// The delivery's trace shows as a waterfall once its spans are stored
	// (the span store writes in batches).
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		_, _, body := b.do("GET", "/deliveries/"+ids["acme"], nil)
		if strings.Contains(body, `class="waterfall"`) && strings.Contains(body, "transfer") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no trace waterfall on the delivery page:\n%s", body)
		}
	}
	if code, loc, _ := b.do("GET", "/deliveries?id="+ids["acme"], nil); code != http.StatusSeeOther || loc != "/deliveries/"+ids["acme"] {
		t.Errorf("search by id: %d to %q", code, loc)
	}
	// The live stream of a finished delivery sends it once and ends.
	code, _, body := b.do("GET", "/deliveries/"+ids["acme"]+"/events", nil)
	if code != 200 || !strings.Contains(body, `"status":"delivered"`) || !strings.Contains(body, `"terminal":true`) || strings.Count(body, "data: ") != 1 {
		t.Errorf("events of a delivered delivery: %d\n%s", code, body)
	}
}
