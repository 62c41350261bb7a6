package catalog_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/syndicate-media/syndicate/internal/catalog"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

func TestOpenBuiltin(t *testing.T) {
	st := storetest.Open(t, storetest.SQLite(t))
	ctx := context.Background()
	for _, kind := range []string{"", "builtin"} {
		c, err := catalog.Open(catalog.Config{Kind: kind}, catalog.Deps{Store: st})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Lookup(ctx, "ep-1"); !errors.Is(err, catalog.ErrUnknownAsset) {
			t.Fatalf("kind %q: missing asset: %v", kind, err)
		}
	}
	if _, _, err := st.PutAsset(ctx, domain.Asset{ID: "ep-1", Type: "clip", Title: "T", Media: []domain.MediaFile{{Role: "main", URI: "/m"}}}); err != nil {
		t.Fatal(err)
	}
	c, _ := catalog.Open(catalog.Config{}, catalog.Deps{Store: st})
	if a, v, err := c.Lookup(ctx, "ep-1"); err != nil || v != 1 || a.Title != "T" {
		t.Fatalf("Lookup = %+v v%d %v", a, v, err)
	}
}

func TestCheck(t *testing.T) {
	if err := catalog.Check(catalog.Config{}); err != nil {
		t.Fatalf("default: %v", err)
	}
	err := catalog.Check(catalog.Config{Kind: "builtin", URL: "https://cms.example/{id}"})
	if err == nil || !strings.Contains(err.Error(), "kind builtin takes no url") {
		t.Fatalf("builtin with a url: %v", err)
	}
	err = catalog.Check(catalog.Config{Kind: "soap"})
	if err == nil || !strings.Contains(err.Error(), `catalog.kind: "soap" is not one of builtin`) {
		t.Fatalf("unknown kind: %v", err)
	}
	catalog.Register("test-kind", func(catalog.Config, catalog.Deps) (catalog.Catalog, error) { return nil, catalog.ErrNoStore })
	if err := catalog.Check(catalog.Config{Kind: "test-kind"}); err != nil {
		t.Fatalf("a valid configuration that needs a store: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a kind registered twice did not panic")
		}
	}()
	catalog.Register("test-kind", nil)
}
