// Package catalog is where assets come from. The built-in catalog is the
// store itself, filled by PUT /v1/assets/{id} and `syndicate assets import`;
// other catalogs (HTTP JSON, GraphQL) implement the same interface.
package catalog

import (
	"context"
	"errors"
	"fmt"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
)

// ErrUnknownAsset is wrapped when the catalog has no such asset.
var ErrUnknownAsset = errors.New("unknown asset")

// Catalog looks an asset up and returns it with its version number.
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
