// Package remote is what the external catalogs (httpjson, graphql) share:
// the HTTP exchange with timeouts, retries (exponential backoff with
// jitter on 429, 5xx, 408 and network errors, honouring Retry-After), a
// rate limit per catalog, conditional requests (the ETag of each asset's
// last answer, If-None-Match, a 304 reuses that answer), the field
// mapping, validation, and the snapshot in the store. A kind supplies only
// how to ask (its request) and how to read the answer (Protocol).
package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"github.com/syndicate-media/syndicate/internal/catalog"
	"github.com/syndicate-media/syndicate/internal/catalog/mapping"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
)

// Protocol is what differs between kinds.
type Protocol interface {
	// NewRequest builds one attempt's request for the asset (called again
	// for each retry, so a body is fresh each time).
	NewRequest(ctx context.Context, id string) (*http.Request, error)
	// Document reads an answer that is not retried and not a 304 into the
	// document the mapping reads. It returns an error wrapping
	// catalog.ErrUnknownAsset when the answer says there is no such asset.
	Document(status int, body []byte) (any, error)
}

// Catalog is an external catalog.
type Catalog struct {
	kind     string
	cfg      catalog.Config
	proto    Protocol
	mapping  *mapping.Mapping
	absent   *mapping.Path
	store    *store.Store
	client   *http.Client
	limiter  *rate.Limiter
	cache    *lru.Cache[string, cached]
	maxBytes int64
}

// cached is what an asset's last answer was stored as: on 304 Not
// Modified the snapshot of that version is the answer.
type cached struct {
	etag    string
	version int
}

// MaxBody bounds an answer's size.
const MaxBody = 16 << 20

// New checks cfg (kind's own settings already checked by the caller, whose
// problems come in as errs) and builds the catalog. urlForCheck is cfg.URL
// with any template filled in.
func New(kind string, cfg catalog.Config, deps catalog.Deps, proto Protocol, urlForCheck string, errs []error) (*Catalog, error) {
	cfg = withDefaults(cfg)
	m, more := check(cfg, urlForCheck)
	if errs = append(errs, more...); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if deps.Store == nil {
		return nil, catalog.ErrNoStore
	}
	c := &Catalog{kind: kind, cfg: cfg, proto: proto, mapping: m, store: deps.Store, maxBytes: MaxBody,
		limiter: rate.NewLimiter(rate.Limit(cfg.RequestsPerSecond), cfg.Burst)}
	if cfg.AssetPath != "" {
		p, _ := mapping.ParsePath(cfg.AssetPath)
		c.absent = &p
	}
	c.cache, _ = lru.New[string, cached](max(cfg.CacheSize, 1))
	c.client = &http.Client{
		// Redirects stay on the configured host: the auth header must not
		// follow the request elsewhere.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("more than 5 redirects")
			}
			if req.URL.Host != via[0].URL.Host || (req.URL.Scheme != "https" && req.URL.Scheme != "http") {
				return fmt.Errorf("%w: to another host (%s://%s)", errRedirect, req.URL.Scheme, req.URL.Host)
			}
			return nil
		},
	}
	return c, nil
}

// Headers sets the configured headers and the auth header on req. Kinds
// call it from NewRequest.
func (c *Catalog) Headers(req *http.Request) error {
	for k, v := range c.cfg.Headers {
		req.Header.Set(k, v)
	}
	if c.cfg.Auth != nil {
		v, err := resolve(c.cfg.Auth)
		if err != nil {
			return err
		}
		req.Header.Set(c.cfg.Auth.Header, v)
	}
	return nil
}

// Lookup fetches the asset, maps and validates it, and stores its
// snapshot: under the version the answer states, or, when the mapping has
// none, under the store's content-derived version (unchanged content keeps
// its version).
func (c *Catalog) Lookup(ctx context.Context, id string) (domain.Asset, int, error) {
	if !domain.ValidID(id) {
		return domain.Asset{}, 0, fmt.Errorf("catalog %s: %w: %q is not a valid asset id", c.kind, catalog.ErrUnknownAsset, id)
	}
	prev, hasPrev := c.cache.Get(id)
	res, err := c.fetch(ctx, id, prev.etag)
	if err != nil {
		return domain.Asset{}, 0, c.fail(id, err)
	}
	if res.status == http.StatusNotModified {
		if !hasPrev {
			return domain.Asset{}, 0, c.fail(id, errors.New("304 Not Modified to a request without If-None-Match"))
		}
		// The answer the ETag stands for is the snapshot stored then.
		a, err := c.store.GetAssetVersion(ctx, id, prev.version)
		if err == nil {
			return a, prev.version, nil
		}
		c.cache.Remove(id) // the snapshot is gone: ask again, unconditionally
		if res, err = c.fetch(ctx, id, ""); err != nil {
			return domain.Asset{}, 0, c.fail(id, err)
		}
	}
	a, version, err := c.read(ctx, id, res)
	if errors.Is(err, catalog.ErrUnknownAsset) {
		c.cache.Remove(id)
		return domain.Asset{}, 0, fmt.Errorf("catalog %s: %w: %q", c.kind, catalog.ErrUnknownAsset, id)
	}
	if err != nil {
		return domain.Asset{}, 0, c.fail(id, err)
	}
	if tag := res.header.Get("ETag"); tag != "" {
		c.cache.Add(id, cached{etag: tag, version: version})
	} else {
		c.cache.Remove(id)
	}
	a.Version = version
	return a, version, nil
}

// read turns an answer into a stored, valid asset version.
func (c *Catalog) read(ctx context.Context, id string, res *response) (domain.Asset, int, error) {
	doc, err := c.proto.Document(res.status, res.body)
	if err != nil {
		return domain.Asset{}, 0, err
	}
	if c.absent != nil && c.absent.Absent(doc) {
		return domain.Asset{}, 0, fmt.Errorf("%w: nothing at %s", catalog.ErrUnknownAsset, c.cfg.AssetPath)
	}
	a, version, err := c.mapping.Apply(doc, id)
	if err != nil {
		return domain.Asset{}, 0, err
	}
	if err := a.Validate(); err != nil {
		return domain.Asset{}, 0, fmt.Errorf("the mapped asset is not valid: %w", flatten(err))
	}
	if version > 0 {
		return a, version, c.store.PutAssetVersion(ctx, a, version)
	}
	v, _, err := c.store.PutAsset(ctx, a)
	if err != nil {
		// A concurrent lookup of the same asset (here or in another
		// process) may have stored it first; the second try sees it.
		v, _, err = c.store.PutAsset(ctx, a)
	}
	return a, v, err
}

// Error is a failed lookup: it names the catalog kind and the asset, and
// wraps catalog.ErrSource.
type Error struct {
	Kind, Asset string
	Err         error
}

func (e *Error) Error() string {
	return fmt.Sprintf("catalog %s: asset %q: %v", e.Kind, e.Asset, flatten(e.Err))
}

// Unwrap gives catalog.ErrSource and the cause.
func (e *Error) Unwrap() []error { return []error{catalog.ErrSource, e.Err} }

func (c *Catalog) fail(id string, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return &Error{Kind: c.kind, Asset: id, Err: err}
}

// flatten puts joined errors on one line.
func flatten(err error) error {
	errs := unjoin(err)
	if len(errs) < 2 {
		return err
	}
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = e.Error()
	}
	return fmt.Errorf("%s", strings.Join(parts, "; "))
}

// DecodeJSON reads one JSON value, refusing anything after it.
func DecodeJSON(body []byte) (any, error) {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("the answer is not JSON: %v", err)
	}
	if dec.More() {
		return nil, errors.New("the answer is not JSON: more than one value")
	}
	return v, nil
}
