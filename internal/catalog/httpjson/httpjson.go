// Package httpjson is the catalog kind "http": one GET per lookup to a URL
// template (`https://cms.example/api/assets/{id}`, the id path-escaped),
// the JSON answer mapped to an asset. 404 (or, with asset_path, nothing
// there) means the catalog has no such asset. Retries, rate limit,
// conditional requests and snapshots are package remote's.
package httpjson

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/syndicate-media/syndicate/internal/catalog"
	"github.com/syndicate-media/syndicate/internal/catalog/remote"
)

func init() { catalog.Register("http", Open) }

// Open checks cfg and builds the catalog.
func Open(cfg catalog.Config, deps catalog.Deps) (catalog.Catalog, error) {
	var errs []error
	if !strings.Contains(cfg.URL, "{id}") {
		errs = append(errs, errors.New("catalog.url: want a template with {id} where the asset id goes, e.g. https://cms.example/api/assets/{id}"))
	}
	if cfg.Query != "" || cfg.IDVariable != "" || len(cfg.Variables) > 0 {
		errs = append(errs, errors.New("catalog.query: query, variables and id_variable are for kind graphql"))
	}
	p := &protocol{template: cfg.URL}
	rc, err := remote.New("http", cfg, deps, p, strings.ReplaceAll(cfg.URL, "{id}", "x"), errs)
	if err != nil {
		return nil, err
	}
	p.rc = rc
	return rc, nil
}

type protocol struct {
	template string
	rc       *remote.Catalog
}

func (p *protocol) NewRequest(ctx context.Context, id string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.ReplaceAll(p.template, "{id}", url.PathEscape(id)), nil)
	if err != nil {
		return nil, fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	return req, p.rc.Headers(req)
}

func (p *protocol) Document(status int, body []byte) (any, error) {
	switch {
	case status == http.StatusNotFound || status == http.StatusGone:
		return nil, fmt.Errorf("%w (status %d)", catalog.ErrUnknownAsset, status)
	case status < 200 || status > 299:
		return nil, fmt.Errorf("status %d %s", status, http.StatusText(status))
	}
	return remote.DecodeJSON(body)
}
