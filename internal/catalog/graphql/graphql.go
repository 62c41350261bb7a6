// Package graphql is the catalog kind "graphql": one POST per lookup of
// {"query": <document>, "variables": {<id_variable>: <id>, ...}} (as one
// queries AWS AppSync), the answer's data mapped to an asset. An errors
// array is a clear error naming each message and path; data null (or, with
// asset_path, nothing there; without it, every field of data null) means
// the catalog has no such asset. Retries, rate limit, conditional requests
// and snapshots are package remote's.
package graphql

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"

	"github.com/syndicate-media/syndicate/internal/catalog"
	"github.com/syndicate-media/syndicate/internal/catalog/remote"
)

func init() { catalog.Register("graphql", Open) }

// Open checks cfg and builds the catalog.
func Open(cfg catalog.Config, deps catalog.Deps) (catalog.Catalog, error) {
	var errs []error
	if strings.TrimSpace(cfg.Query) == "" {
		errs = append(errs, errors.New("catalog.query: required: the GraphQL document, e.g. query($id: ID!) { getAsset(id: $id) { title } }"))
	}
	if cfg.IDVariable == "" {
		cfg.IDVariable = "id"
	}
	if !strings.Contains(cfg.Query, "$"+cfg.IDVariable) {
		errs = append(errs, fmt.Errorf("catalog.query: does not use $%s, where the asset id goes (id_variable)", cfg.IDVariable))
	}
	if _, clash := cfg.Variables[cfg.IDVariable]; clash {
		errs = append(errs, fmt.Errorf("catalog.variables.%s: is the id variable; the asset id goes there", cfg.IDVariable))
	}
	if strings.Contains(cfg.URL, "{id}") {
		errs = append(errs, errors.New("catalog.url: the GraphQL endpoint takes no {id}; the id goes in the query's variables"))
	}
	p := &protocol{cfg: cfg}
	rc, err := remote.New("graphql", cfg, deps, p, cfg.URL, errs)
	if err != nil {
		return nil, err
	}
	p.rc = rc
	return rc, nil
}

type protocol struct {
	cfg catalog.Config
	rc  *remote.Catalog
}

func (p *protocol) NewRequest(ctx context.Context, id string) (*http.Request, error) {
	vars := maps.Clone(p.cfg.Variables)
	if vars == nil {
		vars = map[string]any{}
	}
	vars[p.cfg.IDVariable] = id
	body, err := json.Marshal(map[string]any{"query": p.cfg.Query, "variables": vars})
	if err != nil {
		return nil, fmt.Errorf("encoding the request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/graphql-response+json, application/json")
	return req, p.rc.Headers(req)
}

// answer is a GraphQL response (the spec's "Response" section).
type answer struct {
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	ErrorType  string         `json:"errorType"` // AppSync
	Extensions map[string]any `json:"extensions"`
}

func (e gqlError) String() string {
	s := e.Message
	if s == "" {
		s = "(no message)"
	}
	if len(e.Path) > 0 {
		parts := make([]string, len(e.Path))
		for i, p := range e.Path {
			parts[i] = fmt.Sprint(p)
		}
		s += " at " + strings.Join(parts, ".")
	}
	code := e.ErrorType
	if c, ok := e.Extensions["code"].(string); ok && code == "" {
		code = c
	}
	if code != "" {
		s += " (" + code + ")"
	}
	return s
}

func (p *protocol) Document(status int, body []byte) (any, error) {
	var a answer
	// A GraphQL server may answer a bad request with 4xx and an errors
	// array; read it whatever the status.
	jsonErr := json.Unmarshal(body, &a)
	if jsonErr == nil && len(a.Errors) > 0 {
		msgs := make([]string, len(a.Errors))
		for i, e := range a.Errors {
			msgs[i] = e.String()
		}
		return nil, fmt.Errorf("graphql errors: %s", strings.Join(msgs, "; "))
	}
	if status < 200 || status > 299 {
		return nil, fmt.Errorf("status %d %s from the GraphQL endpoint", status, http.StatusText(status))
	}
	if jsonErr != nil {
		_, err := remote.DecodeJSON(body)
		if err == nil {
			err = errors.New("the answer is not a GraphQL response (want an object with data or errors)")
		}
		return nil, err
	}
	data, err := remote.DecodeJSON(a.Data)
	if len(a.Data) == 0 || err != nil {
		return nil, errors.New("the answer has neither data nor errors")
	}
	if p.cfg.AssetPath == "" && allNull(data) {
		return nil, fmt.Errorf("%w (data is null)", catalog.ErrUnknownAsset)
	}
	return data, nil
}

// allNull reports whether data is null or an object whose fields are all
// null: a query for one asset found nothing.
func allNull(data any) bool {
	obj, ok := data.(map[string]any)
	if data == nil {
		return true
	}
	if !ok || len(obj) == 0 {
		return false
	}
	for _, v := range obj {
		if v != nil {
			return false
		}
	}
	return true
}
