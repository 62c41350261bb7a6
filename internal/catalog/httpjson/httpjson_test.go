package httpjson_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/catalog"
	_ "github.com/syndicate-media/syndicate/internal/catalog/httpjson"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

const token = "cms-token-8c1d2f" // what env:CMS_TOKEN holds in these tests

// cms is a small JSON:API-style CMS: GET /api/assets/{id} answers the
// stored document with a strong ETag and honours If-None-Match. Queued
// responses (next) are served first, one per request.
type cms struct {
	mu       sync.Mutex
	docs     map[string]string
	next     []func(w http.ResponseWriter, r *http.Request)
	requests atomic.Int64
	notMod   atomic.Int64
	times    []time.Time
	headers  []http.Header
}

func startCMS(t *testing.T) (*cms, *httptest.Server) {
	c := &cms{docs: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(srv.Close)
	return c, srv
}

func (c *cms) serve(w http.ResponseWriter, r *http.Request) {
	c.requests.Add(1)
	c.mu.Lock()
	c.times = append(c.times, time.Now())
	c.headers = append(c.headers, r.Header.Clone())
	var next func(http.ResponseWriter, *http.Request)
	if len(c.next) > 0 {
		next, c.next = c.next[0], c.next[1:]
	}
	id, ok := strings.CutPrefix(r.URL.Path, "/api/assets/")
	doc, found := c.docs[id]
	c.mu.Unlock()
	if next != nil {
		next(w, r)
		return
	}
	switch {
	case r.Method != http.MethodGet || !ok:
		http.Error(w, "no such route", http.StatusBadRequest)
	case r.Header.Get("Authorization") != "Bearer "+token:
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	case !found:
		http.Error(w, `{"errors":[{"status":"404"}]}`, http.StatusNotFound)
	default:
		sum := sha256.Sum256([]byte(doc))
		etag := `"` + hex.EncodeToString(sum[:8]) + `"`
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			c.notMod.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.api+json")
		fmt.Fprint(w, doc)
	}
}

func (c *cms) put(id, doc string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if doc == "" {
		delete(c.docs, id)
		return
	}
	c.docs[id] = doc
}

func (c *cms) queue(fns ...func(w http.ResponseWriter, r *http.Request)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next = append(c.next, fns...)
}

func status(code int, header ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		http.Error(w, http.StatusText(code), code)
	}
}

const sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// episode is a CMS document; title and revision vary.
func episode(title string, revision int) string {
	return fmt.Sprintf(`{"data": {"id": "ep-1", "type": "assets", "revision": %d,
  "attributes": {"title": %q, "kind": "episode", "synopsis": "It begins.", "year": 2024, "genres": ["drama", "mystery"]},
  "renditions": [
    {"role": "main", "uri": "https://media.example/ep-1.mp4", "size": 1048576, "sha256": %q},
    {"role": "trailer", "uri": "https://media.example/ep-1-trailer.mp4", "size": "4096"}
  ],
  "images": [{"role": "cover", "uri": "https://media.example/ep-1-cover.png", "width": 1920, "height": 1080}]
}}`, revision, title, sha)
}

func baseConfig(url string) catalog.Config {
	return catalog.Config{
		Kind:    "http",
		URL:     url + "/api/assets/{id}",
		Headers: map[string]string{"X-Client": "syndicate"},
		Auth:    &catalog.Auth{Prefix: "Bearer ", Secret: "env:CMS_TOKEN"},
		Mapping: map[string]string{
			"id":                "data.id",
			"type":              "data.attributes.kind",
			"title":             "data.attributes.title",
			"version":           "data.revision",
			"metadata.synopsis": "data.attributes.synopsis",
			"metadata.year":     "data.attributes.year",
			"metadata.genres":   "data.attributes.genres",
			"media":             "data.renditions[*]",
			"media.role":        "role",
			"media.uri":         "uri",
			"media.size":        "size",
			"media.sha256":      "sha256?",
			"images":            "data.images[*]",
			"images.role":       "role",
			"images.uri":        "uri",
			"images.width":      "width",
			"images.height":     "height",
		},
		BaseInterval: time.Millisecond,
		MaxInterval:  5 * time.Second,
		// The tests that count requests set their own limit; the others
		// must not wait for one.
		RequestsPerSecond: 1000,
		Burst:             100,
	}
}

func open(t *testing.T, cfg catalog.Config) (catalog.Catalog, *store.Store) {
	t.Helper()
	t.Setenv("CMS_TOKEN", token+"\n") // as a mounted file would hold it
	st := storetest.Open(t, storetest.SQLite(t))
	c, err := catalog.Open(cfg, catalog.Deps{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	return c, st
}

func TestLookupMapsEveryField(t *testing.T) {
	srv, hs := startCMS(t)
	srv.put("ep-1", episode("Pilot", 3))
	c, st := open(t, baseConfig(hs.URL))
	a, v, err := c.Lookup(context.Background(), "ep-1")
	if err != nil {
		t.Fatal(err)
	}
	want := domain.Asset{ID: "ep-1", Type: "episode", Title: "Pilot", Version: 3,
		Metadata: map[string]any{"synopsis": "It begins.", "year": 2024.0, "genres": []any{"drama", "mystery"}},
		Media: []domain.MediaFile{
			{Role: "main", URI: "https://media.example/ep-1.mp4", Size: 1048576, SHA256: sha},
			{Role: "trailer", URI: "https://media.example/ep-1-trailer.mp4", Size: 4096},
		},
		Images: []domain.Image{{Role: "cover", URI: "https://media.example/ep-1-cover.png", Width: 1920, Height: 1080}},
	}
	if v != 3 || !reflect.DeepEqual(a, want) {
		t.Fatalf("Lookup = v%d\n%+v\nwant v3\n%+v", v, a, want)
	}
	snap, err := st.GetAssetVersion(context.Background(), "ep-1", 3)
	if err != nil || snap.Title != "Pilot" || len(snap.Media) != 2 {
		t.Fatalf("snapshot v3 = %+v %v", snap, err)
	}
	h := srv.headers[0]
	if h.Get("X-Client") != "syndicate" || h.Get("Accept") != "application/json" || h.Get("Authorization") != "Bearer "+token {
		t.Fatalf("request headers = %v", h)
	}
}

// Without a version in the answer the store numbers versions by content:
// the same content keeps its version, a change makes the next one.
func TestVersionFromContent(t *testing.T) {
	srv, hs := startCMS(t)
	cfg := baseConfig(hs.URL)
	delete(cfg.Mapping, "version")
	c, _ := open(t, cfg)
	ctx := context.Background()
	for i, step := range []struct {
		title string
		want  int
	}{{"Pilot", 1}, {"Pilot", 1}, {"Pilot (recut)", 2}, {"Pilot (recut)", 2}} {
		srv.put("ep-1", episode(step.title, 99))
		a, v, err := c.Lookup(ctx, "ep-1")
		if err != nil || v != step.want || a.Version != step.want || a.Title != step.title {
			t.Fatalf("lookup %d = %q v%d (Version %d) %v, want v%d", i, a.Title, v, a.Version, err, step.want)
		}
	}
}

func TestConditionalRequests(t *testing.T) {
	srv, hs := startCMS(t)
	srv.put("ep-1", episode("Pilot", 3))
	c, st := open(t, baseConfig(hs.URL))
	ctx := context.Background()
	first, _, err := c.Lookup(ctx, "ep-1")
	if err != nil {
		t.Fatal(err)
	}
	again, v, err := c.Lookup(ctx, "ep-1")
	if err != nil || v != 3 || !reflect.DeepEqual(again, first) {
		t.Fatalf("after 304: v%d %v, same asset: %v", v, err, reflect.DeepEqual(again, first))
	}
	if srv.notMod.Load() != 1 || srv.headers[1].Get("If-None-Match") == "" {
		t.Fatalf("304s = %d, second If-None-Match = %q", srv.notMod.Load(), srv.headers[1].Get("If-None-Match"))
	}
	srv.put("ep-1", episode("Pilot (recut)", 4))
	a, v, err := c.Lookup(ctx, "ep-1")
	if err != nil || v != 4 || a.Title != "Pilot (recut)" || srv.notMod.Load() != 1 {
		t.Fatalf("after a change: %q v%d %v (304s %d)", a.Title, v, err, srv.notMod.Load())
	}
	// A 304 stands for a stored snapshot; if that is gone (a restored
	// database), the lookup asks again without If-None-Match.
	if _, err := st.DB.Exec(`DELETE FROM syn_asset_versions`); err != nil {
		t.Fatal(err)
	}
	before := srv.requests.Load()
	a, v, err = c.Lookup(ctx, "ep-1")
	if err != nil || v != 4 || a.Title != "Pilot (recut)" || srv.notMod.Load() != 2 || srv.requests.Load() != before+2 {
		t.Fatalf("snapshot gone: %q v%d %v (304s %d, requests %d)", a.Title, v, err, srv.notMod.Load(), srv.requests.Load()-before)
	}
}

func TestRetryAfter429(t *testing.T) {
	srv, hs := startCMS(t)
	srv.put("ep-1", episode("Pilot", 3))
	srv.queue(status(http.StatusTooManyRequests, "Retry-After", "1"))
	c, _ := open(t, baseConfig(hs.URL))
	if _, v, err := c.Lookup(context.Background(), "ep-1"); err != nil || v != 3 {
		t.Fatalf("Lookup = v%d %v", v, err)
	}
	if n := srv.requests.Load(); n != 2 {
		t.Fatalf("requests = %d, want 2", n)
	}
	// The retry waited at least what the server asked (a lower bound the
	// code guarantees, not a speed claim).
	if gap := srv.times[1].Sub(srv.times[0]); gap < time.Second {
		t.Fatalf("retried %s after a Retry-After: 1", gap)
	}
}

func TestRetryAfterLongerThanMaxInterval(t *testing.T) {
	srv, hs := startCMS(t)
	srv.put("ep-1", episode("Pilot", 3))
	srv.queue(status(http.StatusServiceUnavailable, "Retry-After", "3600"))
	c, _ := open(t, baseConfig(hs.URL))
	_, _, err := c.Lookup(context.Background(), "ep-1")
	want := `catalog http: asset "ep-1": status 503 Service Unavailable, and asks to retry after 1h0m0s (more than max_interval 5s)`
	if err == nil || err.Error() != want || srv.requests.Load() != 1 {
		t.Fatalf("err = %v (requests %d), want %s", err, srv.requests.Load(), want)
	}
}

func TestServerErrorsThenSuccess(t *testing.T) {
	srv, hs := startCMS(t)
	srv.put("ep-1", episode("Pilot", 3))
	srv.queue(status(500), status(502), status(503))
	c, _ := open(t, baseConfig(hs.URL))
	if _, v, err := c.Lookup(context.Background(), "ep-1"); err != nil || v != 3 {
		t.Fatalf("Lookup = v%d %v", v, err)
	}
	if n := srv.requests.Load(); n != 4 {
		t.Fatalf("requests = %d, want 4", n)
	}
}

func TestServerErrorsExhaustAttempts(t *testing.T) {
	srv, hs := startCMS(t)
	srv.put("ep-1", episode("Pilot", 3))
	for range 10 {
		srv.queue(status(500))
	}
	cfg := baseConfig(hs.URL)
	cfg.MaxAttempts = 3
	c, _ := open(t, cfg)
	_, _, err := c.Lookup(context.Background(), "ep-1")
	want := `catalog http: asset "ep-1": gave up after 3 attempts, the last: status 500 Internal Server Error`
	if err == nil || err.Error() != want || !errors.Is(err, catalog.ErrSource) {
		t.Fatalf("err = %v, want %s", err, want)
	}
	if n := srv.requests.Load(); n != 3 {
		t.Fatalf("requests = %d, want 3", n)
	}
}

func TestTimeout(t *testing.T) {
	srv, hs := startCMS(t)
	release := make(chan struct{})
	defer close(release)
	hang := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
	srv.queue(hang, hang)
	cfg := baseConfig(hs.URL)
	cfg.Timeout, cfg.MaxAttempts = 50*time.Millisecond, 2
	c, _ := open(t, cfg)
	_, _, err := c.Lookup(context.Background(), "ep-1")
	want := `catalog http: asset "ep-1": gave up after 2 attempts, the last: no answer within the timeout (50ms)`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
}

func TestNetworkError(t *testing.T) {
	_, hs := startCMS(t)
	cfg := baseConfig(hs.URL)
	cfg.MaxAttempts = 2
	hs.Close() // nothing listens there any more
	c, _ := open(t, cfg)
	_, _, err := c.Lookup(context.Background(), "ep-1")
	if err == nil || !strings.HasPrefix(err.Error(), `catalog http: asset "ep-1": gave up after 2 attempts, the last: `) ||
		!strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), hs.URL) {
		t.Fatalf("err = %v", err)
	}
}

func TestBadAnswers(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
		answer          func(http.ResponseWriter, *http.Request)
	}{
		{name: "garbage", answer: func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<html>maintenance</html>") },
			want: `catalog http: asset "ep-1": the answer is not JSON: invalid character '<' looking for beginning of value`},
		{name: "two values", answer: func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{} {}`) },
			want: `catalog http: asset "ep-1": the answer is not JSON: more than one value`},
		{name: "missing field", doc: strings.Replace(episode("Pilot", 3), `"title": "Pilot",`, "", 1),
			want: `catalog http: asset "ep-1": field "title" (data.attributes.title): missing`},
		{name: "two problems", doc: strings.Replace(strings.Replace(episode("Pilot", 3), `"title": "Pilot",`, "", 1), `"uri": "https://media.example/ep-1.mp4"`, `"uri": 5`, 1),
			want: `catalog http: asset "ep-1": field "title" (data.attributes.title): missing; field "media[0].uri" (data.renditions[0].uri): want a string, got a number`},
		{name: "invalid asset", doc: strings.Replace(episode("Pilot", 3), `"kind": "episode"`, `"kind": "cartoon"`, 1),
			want: `catalog http: asset "ep-1": the mapped asset is not valid: type: "cartoon" is not one of [episode movie clip series season trailer]`},
		{name: "304 unasked", answer: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotModified) },
			want: `catalog http: asset "ep-1": 304 Not Modified to a request without If-None-Match`},
		{name: "too large", answer: func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"data": "`+strings.Repeat("x", 17<<20)+`"}`)
		}, want: `catalog http: asset "ep-1": the answer is larger than 16 MiB`},
		{name: "refused", answer: status(http.StatusForbidden),
			want: `catalog http: asset "ep-1": status 403 Forbidden`},
		{name: "redirect elsewhere", answer: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://other.example/x", http.StatusFound)
		}, want: `catalog http: asset "ep-1": redirect refused: to another host (http://other.example)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, hs := startCMS(t)
			if tc.doc != "" {
				srv.put("ep-1", tc.doc)
			} else {
				srv.queue(tc.answer)
			}
			c, _ := open(t, baseConfig(hs.URL))
			_, _, err := c.Lookup(context.Background(), "ep-1")
			if err == nil || err.Error() != tc.want || !errors.Is(err, catalog.ErrSource) {
				t.Fatalf("err = %v\nwant  %s", err, tc.want)
			}
			if srv.requests.Load() != 1 {
				t.Fatalf("requests = %d, want 1 (not retried)", srv.requests.Load())
			}
			if strings.Contains(err.Error(), token) {
				t.Fatal("the error holds the token")
			}
		})
	}
}

func TestVanishedAsset(t *testing.T) {
	srv, hs := startCMS(t)
	srv.put("ep-1", episode("Pilot", 3))
	c, _ := open(t, baseConfig(hs.URL))
	ctx := context.Background()
	if _, _, err := c.Lookup(ctx, "ep-1"); err != nil {
		t.Fatal(err)
	}
	srv.put("ep-1", "")
	_, _, err := c.Lookup(ctx, "ep-1")
	if !errors.Is(err, catalog.ErrUnknownAsset) || err.Error() != `catalog http: unknown asset: "ep-1"` {
		t.Fatalf("err = %v", err)
	}
	if _, _, err := c.Lookup(ctx, "never-was"); !errors.Is(err, catalog.ErrUnknownAsset) {
		t.Fatalf("never-was: %v", err)
	}
}

func TestAssetPathNull(t *testing.T) {
	srv, hs := startCMS(t)
	srv.put("ep-1", `{"data": null}`)
	cfg := baseConfig(hs.URL)
	cfg.AssetPath = "data"
	c, _ := open(t, cfg)
	if _, _, err := c.Lookup(context.Background(), "ep-1"); !errors.Is(err, catalog.ErrUnknownAsset) {
		t.Fatalf("err = %v", err)
	}
}

func TestChangedWithoutNewRevision(t *testing.T) {
	srv, hs := startCMS(t)
	c, _ := open(t, baseConfig(hs.URL))
	ctx := context.Background()
	srv.put("ep-1", episode("Pilot", 3))
	if _, _, err := c.Lookup(ctx, "ep-1"); err != nil {
		t.Fatal(err)
	}
	srv.put("ep-1", episode("Pilot (recut)", 3))
	_, _, err := c.Lookup(ctx, "ep-1")
	if !errors.Is(err, store.ErrVersionConflict) || !strings.Contains(err.Error(), `asset "ep-1" version 3`) {
		t.Fatalf("err = %v", err)
	}
}

func TestRateLimit(t *testing.T) {
	srv, hs := startCMS(t)
	srv.put("ep-1", episode("Pilot", 3))
	cfg := baseConfig(hs.URL)
	cfg.RequestsPerSecond, cfg.Burst = 5, 1
	c, _ := open(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() { _, _, _ = c.Lookup(ctx, "ep-1") })
	}
	wg.Wait()
	elapsed := time.Since(start)
	// At most the burst plus 5 a second for as long as it ran (+1 for the
	// token refilled while the last request was on its way).
	limit := int64(1 + 5*elapsed.Seconds() + 1)
	if n := srv.requests.Load(); n > limit || n == 0 {
		t.Fatalf("%d requests in %s, want 1 to %d", n, elapsed, limit)
	}
	t.Logf("30 lookups, 5/s: %d requests in %s", srv.requests.Load(), elapsed)
}

func TestConfigProblems(t *testing.T) {
	t.Setenv("CMS_TOKEN", token)
	st := storetest.Open(t, storetest.SQLite(t))
	for _, tc := range []struct {
		name string
		edit func(*catalog.Config)
		want []string
	}{
		{"scheme", func(c *catalog.Config) { c.URL = "ftp://cms.example/{id}" }, []string{`catalog.url: scheme "ftp": want http or https`}},
		{"no template", func(c *catalog.Config) { c.URL = "https://cms.example/assets" }, []string{`catalog.url: want a template with {id}`}},
		{"userinfo", func(c *catalog.Config) { c.URL = "https://u:p@cms.example/{id}" }, []string{`catalog.url: credentials in the URL`}},
		{"credential header", func(c *catalog.Config) { c.Headers = map[string]string{"authorization": "Bearer x"} },
			[]string{`catalog.headers.authorization: may carry a credential: set it with auth`}},
		{"unresolvable secret", func(c *catalog.Config) { c.Auth.Secret = "env:NOT_SET_ANYWHERE" },
			[]string{`catalog.auth.secret: secret env:NOT_SET_ANYWHERE: environment variable is unset or empty`}},
		{"literal secret", func(c *catalog.Config) { c.Auth.Secret = "hunter2" },
			[]string{`catalog.auth.secret: want a secret reference (env:NAME, file:/path or aws-ssm:/path), not the secret itself`}},
		{"numbers", func(c *catalog.Config) { c.MaxAttempts, c.Timeout, c.RequestsPerSecond = 50, -time.Second, -1 },
			[]string{`catalog.max_attempts: 50: want 1 to 20`, `catalog.timeout: negative`, `catalog.requests_per_second: negative`}},
		{"graphql settings", func(c *catalog.Config) { c.Query = "query { x }" }, []string{`catalog.query: query, variables and id_variable are for kind graphql`}},
		{"mapping", func(c *catalog.Config) { delete(c.Mapping, "title"); c.Mapping["duration"] = "d" },
			[]string{`catalog.mapping.title: required`, `catalog.mapping.duration: unknown field`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig("https://cms.example")
			tc.edit(&cfg)
			_, err := catalog.Open(cfg, catalog.Deps{Store: st})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), token) {
				t.Errorf("the error holds a secret: %v", err)
			}
		})
	}
	if _, err := catalog.Open(catalog.Config{Kind: "soap"}, catalog.Deps{Store: st}); err == nil ||
		!strings.Contains(err.Error(), `catalog.kind: "soap" is not one of builtin, `) {
		t.Fatalf("unknown kind: %v", err)
	}
}
