package graphql_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gql "github.com/graph-gophers/graphql-go"
	"github.com/graph-gophers/graphql-go/relay"

	"github.com/syndicate-media/syndicate/internal/catalog"
	_ "github.com/syndicate-media/syndicate/internal/catalog/graphql"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

const apiKey = "da2-appsync-key-5e7c" // what env:APPSYNC_KEY holds

// The catalog's schema, shaped like an AppSync API: sizes are strings
// (AWS has no 64-bit Int), a missing asset is null.
const schema = `
schema { query: Query }
type Query { getAsset(id: ID!, locale: String): Asset }
type Asset {
  id: ID!
  kind: String!
  title: String
  revision: Int!
  synopsis: String
  territories: [String!]!
  renditions: [Rendition!]!
  artwork: [Artwork!]!
}
type Rendition { role: String!, uri: String!, size: String, sha256: String }
type Artwork { role: String!, uri: String!, width: Int, height: Int }
`

type asset struct {
	ID          gql.ID
	Kind        string
	Title       *string
	Revision    int32
	Synopsis    *string
	Territories []string
	Renditions  []*rendition
	Artwork     []*artwork
}

type rendition struct {
	Role, URI    string
	Size, SHA256 *string
}

type artwork struct {
	Role, URI     string
	Width, Height *int32
}

// resolver answers getAsset from a map; an asset id "boom" fails in the
// resolver, as a broken data source would.
type resolver struct {
	mu     sync.Mutex
	assets map[string]*asset
}

func (r *resolver) GetAsset(args struct {
	ID     gql.ID
	Locale *string
}) (*asset, error) {
	if args.ID == "boom" {
		return nil, errors.New("data source unavailable")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.assets[string(args.ID)], nil
}

func (r *resolver) put(a *asset) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.assets[string(a.ID)] = a
}

// server wraps the GraphQL handler: it checks the API key, serves queued
// failures first, counts requests, and gives each answer an ETag
// (honouring If-None-Match) as a caching proxy in front of one would.
type server struct {
	*resolver
	mu        sync.Mutex
	next      []func(http.ResponseWriter, *http.Request)
	requests  atomic.Int64
	notMod    atomic.Int64
	bodies    []map[string]any
	gqlServer http.Handler
}

func start(t *testing.T) (*server, string) {
	r := &resolver{assets: map[string]*asset{}}
	s := &server{resolver: r, gqlServer: &relay.Handler{Schema: gql.MustParseSchema(schema, r, gql.UseFieldResolvers())}}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return s, hs.URL + "/graphql"
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	body, _ := io.ReadAll(r.Body)
	var req map[string]any
	_ = json.Unmarshal(body, &req)
	s.mu.Lock()
	s.bodies = append(s.bodies, req)
	var next func(http.ResponseWriter, *http.Request)
	if len(s.next) > 0 {
		next, s.next = s.next[0], s.next[1:]
	}
	s.mu.Unlock()
	if next != nil {
		next(w, r)
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("x-api-key") != apiKey {
		http.Error(w, `{"errors":[{"errorType":"UnauthorizedException","message":"You are not authorized to make this call."}]}`, http.StatusUnauthorized)
		return
	}
	rec := httptest.NewRecorder()
	r.Body = io.NopCloser(bytes.NewReader(body))
	s.gqlServer.ServeHTTP(rec, r)
	sum := sha256.Sum256(rec.Body.Bytes())
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		s.notMod.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

func (s *server) queue(fns ...func(http.ResponseWriter, *http.Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next = append(s.next, fns...)
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

func str(s string) *string { return &s }
func i32(n int32) *int32   { return &n }

func pilot(title string, revision int32) *asset {
	return &asset{ID: "ep-1", Kind: "episode", Title: str(title), Revision: revision, Synopsis: str("It begins."),
		Territories: []string{"GB", "IE"},
		Renditions: []*rendition{
			{Role: "main", URI: "https://media.example/ep-1.mp4", Size: str("5368709120"), SHA256: str(sha)},
			{Role: "trailer", URI: "https://media.example/ep-1-trailer.mp4"},
		},
		Artwork: []*artwork{{Role: "cover", URI: "https://media.example/ep-1-cover.png", Width: i32(1920), Height: i32(1080)}},
	}
}

const query = `query GetAsset($id: ID!) {
  getAsset(id: $id) {
    id kind title revision synopsis territories
    renditions { role uri size sha256 }
    artwork { role uri width height }
  }
}`

func config(url string) catalog.Config {
	return catalog.Config{
		Kind:  "graphql",
		URL:   url,
		Query: query,
		Auth:  &catalog.Auth{Header: "x-api-key", Secret: "env:APPSYNC_KEY"},
		Mapping: map[string]string{
			"id":                   "getAsset.id",
			"type":                 "getAsset.kind",
			"title":                "getAsset.title",
			"version":              "getAsset.revision",
			"metadata.synopsis":    "getAsset.synopsis?",
			"metadata.territories": "getAsset.territories",
			"media":                "getAsset.renditions[*]",
			"media.role":           "role",
			"media.uri":            "uri",
			"media.size":           "size?",
			"media.sha256":         "sha256?",
			"images":               "getAsset.artwork[*]",
			"images.role":          "role",
			"images.uri":           "uri",
			"images.width":         "width?",
			"images.height":        "height?",
		},
		BaseInterval: time.Millisecond, MaxInterval: 5 * time.Second,
		RequestsPerSecond: 1000, Burst: 100,
	}
}

func open(t *testing.T, cfg catalog.Config) (catalog.Catalog, *store.Store) {
	t.Helper()
	t.Setenv("APPSYNC_KEY", apiKey)
	st := storetest.Open(t, storetest.SQLite(t))
	c, err := catalog.Open(cfg, catalog.Deps{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	return c, st
}

func TestLookupMapsEveryField(t *testing.T) {
	srv, url := start(t)
	srv.put(pilot("Pilot", 3))
	c, st := open(t, config(url))
	a, v, err := c.Lookup(context.Background(), "ep-1")
	if err != nil {
		t.Fatal(err)
	}
	want := domain.Asset{ID: "ep-1", Type: "episode", Title: "Pilot", Version: 3,
		Metadata: map[string]any{"synopsis": "It begins.", "territories": []any{"GB", "IE"}},
		Media: []domain.MediaFile{
			{Role: "main", URI: "https://media.example/ep-1.mp4", Size: 5368709120, SHA256: sha},
			{Role: "trailer", URI: "https://media.example/ep-1-trailer.mp4"},
		},
		Images: []domain.Image{{Role: "cover", URI: "https://media.example/ep-1-cover.png", Width: 1920, Height: 1080}},
	}
	if v != 3 || !reflect.DeepEqual(a, want) {
		t.Fatalf("Lookup = v%d\n%+v\nwant v3\n%+v", v, a, want)
	}
	if snap, err := st.GetAssetVersion(context.Background(), "ep-1", 3); err != nil || snap.Title != "Pilot" {
		t.Fatalf("snapshot = %+v %v", snap, err)
	}
	sent := srv.bodies[0]
	if sent["query"] != query || !reflect.DeepEqual(sent["variables"], map[string]any{"id": "ep-1"}) {
		t.Fatalf("request body = %v", sent)
	}
}

func TestExtraVariablesAndIDVariable(t *testing.T) {
	srv, url := start(t)
	srv.put(pilot("Pilot", 3))
	cfg := config(url)
	cfg.Query = strings.NewReplacer("$id: ID!", "$assetId: ID!, $locale: String", "id: $id", "id: $assetId, locale: $locale").Replace(query)
	cfg.IDVariable = "assetId"
	cfg.Variables = map[string]any{"locale": "en-GB"}
	c, _ := open(t, cfg)
	if _, v, err := c.Lookup(context.Background(), "ep-1"); err != nil || v != 3 {
		t.Fatalf("Lookup = v%d %v", v, err)
	}
	if got := srv.bodies[0]["variables"]; !reflect.DeepEqual(got, map[string]any{"assetId": "ep-1", "locale": "en-GB"}) {
		t.Fatalf("variables = %v", got)
	}
}

func TestUnknownAsset(t *testing.T) {
	_, url := start(t)
	c, _ := open(t, config(url))
	_, _, err := c.Lookup(context.Background(), "nope")
	if !errors.Is(err, catalog.ErrUnknownAsset) || err.Error() != `catalog graphql: unknown asset: "nope"` {
		t.Fatalf("err = %v", err)
	}
	cfg := config(url)
	cfg.AssetPath = "getAsset"
	c, _ = open(t, cfg)
	if _, _, err := c.Lookup(context.Background(), "nope"); !errors.Is(err, catalog.ErrUnknownAsset) {
		t.Fatalf("with asset_path: %v", err)
	}
}

func TestGraphQLErrors(t *testing.T) {
	srv, url := start(t)
	srv.put(pilot("Pilot", 3))
	for _, tc := range []struct {
		name string
		edit func(*catalog.Config)
		id   string
		want string
	}{
		{"resolver error", nil, "boom",
			`catalog graphql: asset "boom": graphql errors: data source unavailable at getAsset`},
		{"invalid query", func(c *catalog.Config) { c.Query = strings.Replace(query, "synopsis", "blurb", 1) }, "ep-1",
			`catalog graphql: asset "ep-1": graphql errors: Cannot query field "blurb" on type "Asset".`},
		{"not authorized", func(c *catalog.Config) { c.Auth.Secret = "env:OTHER_KEY" }, "ep-1",
			`catalog graphql: asset "ep-1": graphql errors: You are not authorized to make this call. (UnauthorizedException)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("OTHER_KEY", "wrong-key")
			cfg := config(url)
			if tc.edit != nil {
				tc.edit(&cfg)
			}
			c, _ := open(t, cfg)
			_, _, err := c.Lookup(context.Background(), tc.id)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || !errors.Is(err, catalog.ErrSource) {
				t.Fatalf("err = %v\nwant  %s", err, tc.want)
			}
		})
	}
}

func TestConditionalRequests(t *testing.T) {
	srv, url := start(t)
	srv.put(pilot("Pilot", 3))
	c, _ := open(t, config(url))
	ctx := context.Background()
	first, _, err := c.Lookup(ctx, "ep-1")
	if err != nil {
		t.Fatal(err)
	}
	again, v, err := c.Lookup(ctx, "ep-1")
	if err != nil || v != 3 || !reflect.DeepEqual(again, first) || srv.notMod.Load() != 1 {
		t.Fatalf("second lookup: v%d %v, 304s %d", v, err, srv.notMod.Load())
	}
	srv.put(pilot("Pilot (recut)", 4))
	if a, v, err := c.Lookup(ctx, "ep-1"); err != nil || v != 4 || a.Title != "Pilot (recut)" {
		t.Fatalf("after a change: %q v%d %v", a.Title, v, err)
	}
}

func TestRetries(t *testing.T) {
	srv, url := start(t)
	srv.put(pilot("Pilot", 3))
	srv.queue(status(http.StatusTooManyRequests, "Retry-After", "1"), status(http.StatusBadGateway))
	c, _ := open(t, config(url))
	if _, v, err := c.Lookup(context.Background(), "ep-1"); err != nil || v != 3 {
		t.Fatalf("Lookup = v%d %v", v, err)
	}
	if n := srv.requests.Load(); n != 3 {
		t.Fatalf("requests = %d, want 3", n)
	}
	for range 5 {
		srv.queue(status(http.StatusInternalServerError))
	}
	cfg := config(url)
	cfg.MaxAttempts = 2
	c, _ = open(t, cfg)
	_, _, err := c.Lookup(context.Background(), "ep-1")
	if want := `catalog graphql: asset "ep-1": gave up after 2 attempts, the last: status 500 Internal Server Error`; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	if n := srv.requests.Load(); n != 5 {
		t.Fatalf("requests = %d, want 3 + 2", n)
	}
}

func TestTimeout(t *testing.T) {
	srv, url := start(t)
	release := make(chan struct{})
	defer close(release)
	srv.queue(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	cfg := config(url)
	cfg.Timeout, cfg.MaxAttempts = 50*time.Millisecond, 1
	c, _ := open(t, cfg)
	_, _, err := c.Lookup(context.Background(), "ep-1")
	if want := `catalog graphql: asset "ep-1": gave up after 1 attempt, the last: no answer within the timeout (50ms)`; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
}

func TestBadAnswers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(http.ResponseWriter, *http.Request)
		asset  *asset
		want   string
	}{
		{name: "garbage", answer: func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "upstream connect error") },
			want: `catalog graphql: asset "ep-1": the answer is not JSON: invalid character 'u' looking for beginning of value`},
		{name: "not a response", answer: func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `[1]`) },
			want: `catalog graphql: asset "ep-1": the answer is not a GraphQL response (want an object with data or errors)`},
		{name: "no data", answer: func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"extensions": {}}`) },
			want: `catalog graphql: asset "ep-1": the answer has neither data nor errors`},
		{name: "endpoint missing", answer: status(http.StatusNotFound),
			want: `catalog graphql: asset "ep-1": status 404 Not Found from the GraphQL endpoint`},
		{name: "missing field", asset: func() *asset { a := pilot("", 3); a.Title = nil; return a }(),
			want: `catalog graphql: asset "ep-1": field "title" (getAsset.title): missing (null)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, url := start(t)
			if tc.asset != nil {
				srv.put(tc.asset)
			} else {
				srv.queue(tc.answer)
			}
			c, _ := open(t, config(url))
			_, _, err := c.Lookup(context.Background(), "ep-1")
			if err == nil || err.Error() != tc.want || !errors.Is(err, catalog.ErrSource) {
				t.Fatalf("err = %v\nwant  %s", err, tc.want)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	srv, url := start(t)
	srv.put(pilot("Pilot", 3))
	cfg := config(url)
	cfg.RequestsPerSecond, cfg.Burst = 4, 2
	c, _ := open(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { _, _, _ = c.Lookup(ctx, "ep-1") })
	}
	wg.Wait()
	elapsed := time.Since(start)
	limit := int64(2 + 4*elapsed.Seconds() + 1)
	if n := srv.requests.Load(); n > limit || n == 0 {
		t.Fatalf("%d requests in %s, want 1 to %d", n, elapsed, limit)
	}
	t.Logf("20 lookups, 4/s burst 2: %d requests in %s", srv.requests.Load(), elapsed)
}

func TestConfigProblems(t *testing.T) {
	t.Setenv("APPSYNC_KEY", apiKey)
	st := storetest.Open(t, storetest.SQLite(t))
	for _, tc := range []struct {
		name string
		edit func(*catalog.Config)
		want []string
	}{
		{"no query", func(c *catalog.Config) { c.Query = "" }, []string{`catalog.query: required`}},
		{"query without id", func(c *catalog.Config) { c.Query = "query { listAssets { id } }" }, []string{`catalog.query: does not use $id`}},
		{"id in url", func(c *catalog.Config) { c.URL = "https://api.example/graphql/{id}" }, []string{`catalog.url: the GraphQL endpoint takes no {id}`}},
		{"id variable clash", func(c *catalog.Config) { c.Variables = map[string]any{"id": "x"} }, []string{`catalog.variables.id: is the id variable`}},
		{"scheme", func(c *catalog.Config) { c.URL = "file:///etc/passwd" }, []string{`catalog.url: scheme "file": want http or https`}},
		{"api key in headers", func(c *catalog.Config) { c.Headers = map[string]string{"X-Api-Key": apiKey} }, []string{`catalog.headers.X-Api-Key: may carry a credential`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config("https://api.example/graphql")
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
			if strings.Contains(err.Error(), apiKey) {
				t.Errorf("the error holds the key: %v", err)
			}
		})
	}
}
