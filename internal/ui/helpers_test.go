package ui_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/client"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/server"
	"github.com/syndicate-media/syndicate/internal/store/storetest"

	_ "github.com/syndicate-media/syndicate/internal/all"
)

const token = "ui-test-token-0123456789abcdef"

// fixture is a real server on SQLite with the API client that seeds it.
type fixture struct {
	t   *testing.T
	srv *server.Server
	api *client.Client
}

func start(t *testing.T) fixture {
	t.Helper()
	cfg := storetest.SQLite(t)
	srv, err := server.Start(context.Background(), server.Config{DataDir: cfg.DataDir, Addr: "127.0.0.1:0", Token: token,
		AllowPrivateDestinations: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(10 * time.Second) })
	return fixture{t: t, srv: srv, api: client.New(srv.URL, token)}
}

// partner stores a JSON profile delivering to dest with one attempt.
func (f fixture) partner(id string, dest domain.Destination) {
	f.t.Helper()
	p := domain.Partner{ID: id, Name: strings.ToUpper(id[:1]) + id[1:], Format: "json", Destination: dest,
		Retry: domain.Retry{MaxAttempts: 1, BaseInterval: domain.Duration(10 * time.Millisecond)}}
	body, _ := json.Marshal(p)
	if _, err := f.api.PutPartner(context.Background(), id, body, "application/json"); err != nil {
		f.t.Fatal(err)
	}
}

// asset stores an asset whose one media file holds size random bytes.
func (f fixture) asset(id string, size int) {
	f.t.Helper()
	media := filepath.Join(f.t.TempDir(), id+".mp4")
	b := make([]byte, size)
	rand.Read(b)
	if err := os.WriteFile(media, b, 0o644); err != nil {
		f.t.Fatal(err)
	}
	a := domain.Asset{ID: id, Type: "episode", Title: "Episode " + id, Media: []domain.MediaFile{{Role: "main", URI: media}}}
	if _, err := f.api.PutAsset(context.Background(), a); err != nil {
		f.t.Fatal(err)
	}
}

// notify sends an asset to partners and returns each partner's delivery id.
func (f fixture) notify(assetID string, partners ...string) map[string]string {
	f.t.Helper()
	resp, err := f.api.Notify(context.Background(), intake.Request{AssetID: assetID, Partners: intake.Partners{IDs: partners}})
	if err != nil {
		f.t.Fatal(err)
	}
	ids := map[string]string{}
	for _, d := range resp.Decisions {
		ids[d.PartnerID] = d.DeliveryID
	}
	return ids
}

// wait polls a delivery until it is in one of the statuses (generous
// deadline: the test machines are small and shared).
func (f fixture) wait(id string, statuses ...domain.Status) domain.Delivery {
	f.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		d, err := f.srv.Store.GetDelivery(context.Background(), id)
		if err != nil {
			f.t.Fatal(err)
		}
		for _, s := range statuses {
			if d.Status == s {
				return d
			}
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("delivery %s is %s (error %q), want one of %v", id, d.Status, d.LastError, statuses)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// brokenDestination is a folder under a regular file: it cannot exist.
func brokenDestination(t *testing.T) domain.Destination {
	file := filepath.Join(t.TempDir(), "not-a-folder")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	return domain.Destination{URL: "file://" + file + "/incoming"}
}

// browser is a plain HTTP client that keeps cookies by hand and does not
// follow redirects, so the tests see exactly what the server answers.
type browser struct {
	t       *testing.T
	base    string
	cookies map[string]*http.Cookie
	hc      *http.Client
}

func newBrowser(t *testing.T, base string) *browser {
	return &browser{t: t, base: base, cookies: map[string]*http.Cookie{}, hc: &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       60 * time.Second}}
}

// do sends a request and returns the status, the Location header and the body.
func (b *browser) do(method, path string, form url.Values) (int, string, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, c := range b.cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	text, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(text)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// csrf returns the CSRF token of the first form on a page.
func (b *browser) csrf(page string) string {
	b.t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no csrf field on the page:\n%s", page)
	}
	return m[1]
}

// signIn signs in with tok and returns the session's CSRF token.
func (b *browser) signIn(tok string) string {
	b.t.Helper()
	_, _, page := b.do("GET", "/login", nil)
	code, loc, body := b.do("POST", "/login", url.Values{"csrf": {b.csrf(page)}, "token": {tok}})
	if code != http.StatusSeeOther || loc != "/" {
		b.t.Fatalf("sign in: %d %q\n%s", code, loc, body)
	}
	code, _, page = b.do("GET", "/", nil)
	if code != 200 {
		b.t.Fatalf("dashboard after sign-in: %d", code)
	}
	return b.csrf(page)
}
