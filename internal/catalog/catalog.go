// Package catalog is where assets come from. The built-in catalog is the
// store itself, filled by PUT /v1/assets/{id} and `syndicate assets import`;
// other catalogs (httpjson, graphql, one folder each) implement the same
// interface, register themselves by kind and are chosen by the server's
// configuration (Config).
package catalog

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
)

// ErrUnknownAsset is wrapped when the catalog has no such asset.
var ErrUnknownAsset = errors.New("unknown asset")

// ErrSource is wrapped when an external catalog failed to answer usably
// (unreachable, an error status, an answer that does not map to a valid
// asset). Its message names the asset and, for mapping problems, the
// field; it never holds a secret, so the API shows it to the caller.
var ErrSource = errors.New("catalog source")

// Catalog looks an asset up and returns it with its version number. When
// Lookup returns, that version's snapshot is in the store
// (store.GetAssetVersion), which is what a delivery's workflow reads.
type Catalog interface {
	Lookup(ctx context.Context, id string) (domain.Asset, int, error)
}

// Builtin is the catalog kept in Syndicate's own store.
type Builtin struct{ Store *store.Store }

// Lookup returns the asset's newest stored version.
func (b Builtin) Lookup(ctx context.Context, id string) (domain.Asset, int, error) {
	a, v, err := b.Store.GetAsset(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return a, 0, fmt.Errorf("%w: %q", ErrUnknownAsset, id)
	}
	return a, v, err
}

// Config selects and configures the server's catalog: the `catalog:`
// section of `syndicate serve --config FILE`. Kind builtin needs nothing
// else; the other fields are for the external kinds (http, graphql) and
// are documented in README.md ("Catalogs").
type Config struct {
	// Kind is builtin (default), http or graphql.
	Kind string `yaml:"kind" json:"kind"`
	// URL is the endpoint: for http a template where {id} is replaced by
	// the path-escaped asset id; for graphql the GraphQL endpoint.
	URL string `yaml:"url" json:"url"`
	// Headers are sent with every request, as they are. Credentials go in
	// Auth, never here.
	Headers map[string]string `yaml:"headers" json:"headers,omitempty"`
	// Auth sends a secret, resolved from a reference, in one header.
	Auth *Auth `yaml:"auth" json:"auth,omitempty"`
	// Query is the GraphQL document (graphql only); Variables are extra
	// variables sent with it, and the asset id goes in IDVariable
	// (default "id").
	Query      string         `yaml:"query" json:"query,omitempty"`
	Variables  map[string]any `yaml:"variables" json:"variables,omitempty"`
	IDVariable string         `yaml:"id_variable" json:"id_variable,omitempty"`
	// AssetPath, when set, is where the asset sits in the answer: missing
	// or null there means the catalog has no such asset.
	AssetPath string `yaml:"asset_path" json:"asset_path,omitempty"`
	// Mapping maps asset fields to paths in the answer (see package
	// mapping).
	Mapping map[string]string `yaml:"mapping" json:"mapping,omitempty"`
	// Timeout bounds each request (default 10s).
	Timeout time.Duration `yaml:"timeout" json:"timeout,omitempty"`
	// MaxAttempts bounds the requests per lookup, first one included
	// (default 4); BaseInterval is the first retry's wait (default 500ms),
	// doubled each time up to MaxInterval (default 30s), with jitter. A
	// Retry-After longer than MaxInterval ends the lookup at once.
	MaxAttempts  int           `yaml:"max_attempts" json:"max_attempts,omitempty"`
	BaseInterval time.Duration `yaml:"base_interval" json:"base_interval,omitempty"`
	MaxInterval  time.Duration `yaml:"max_interval" json:"max_interval,omitempty"`
	// RequestsPerSecond limits the requests this process sends to the
	// catalog, retries included (default 10; Burst default 1).
	RequestsPerSecond float64 `yaml:"requests_per_second" json:"requests_per_second,omitempty"`
	Burst             int     `yaml:"burst" json:"burst,omitempty"`
	// CacheSize is how many assets' ETags and answers are remembered for
	// conditional requests (default 10000, least recently used dropped).
	CacheSize int `yaml:"cache_size" json:"cache_size,omitempty"`
}

// Auth is one header whose value is a secret: Prefix (e.g. "Bearer ")
// followed by what Secret, a reference (env:NAME, file:/path,
// aws-ssm:/path), resolves to.
type Auth struct {
	Header string `yaml:"header" json:"header,omitempty"` // default Authorization
	Prefix string `yaml:"prefix" json:"prefix,omitempty"`
	Secret string `yaml:"secret" json:"secret"`
}

// Deps is what an opener may use besides its configuration.
type Deps struct {
	// Store keeps the asset snapshots an external catalog returns.
	Store *store.Store
}

// ErrNoStore is what an opener that needs a store returns, after checking
// its configuration, when Deps has none; Check relies on it.
var ErrNoStore = errors.New("catalog: no store to keep asset snapshots in")

// Check validates cfg as Open would (resolving secret references too)
// without a store, so a command can report configuration problems before
// it starts anything.
func Check(cfg Config) error {
	_, err := Open(cfg, Deps{})
	if errors.Is(err, ErrNoStore) {
		return nil
	}
	return err
}

// Opener checks a configuration and builds its catalog. Its errors name
// the field (`catalog.url: ...`).
type Opener func(cfg Config, deps Deps) (Catalog, error)

var (
	mu      sync.RWMutex
	openers = map[string]Opener{"builtin": openBuiltin}
)

func openBuiltin(cfg Config, deps Deps) (Catalog, error) {
	if cfg.URL != "" || cfg.Query != "" || len(cfg.Mapping) > 0 || cfg.Auth != nil {
		return nil, errors.New("catalog: kind builtin takes no url, query, auth or mapping (did you mean kind: http or graphql?)")
	}
	return Builtin{Store: deps.Store}, nil
}

// Register makes a catalog kind available. It panics on a duplicate kind:
// two packages claiming one kind is a bug.
func Register(kind string, o Opener) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := openers[kind]; dup {
		panic("catalog: kind registered twice: " + kind)
	}
	openers[kind] = o
}

// Kinds lists the registered kinds, sorted.
func Kinds() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(openers))
	for k := range openers {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Open checks cfg and builds the catalog it selects (builtin when Kind is
// empty).
func Open(cfg Config, deps Deps) (Catalog, error) {
	if cfg.Kind == "" {
		cfg.Kind = "builtin"
	}
	mu.RLock()
	o, ok := openers[cfg.Kind]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("catalog.kind: %q is not one of %s (is the package linked in? see internal/all)", cfg.Kind, strings.Join(Kinds(), ", "))
	}
	return o(cfg, deps)
}
