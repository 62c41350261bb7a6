package ui_test

import (
	"context"
	"strings"
	"testing"

	"github.com/syndicate-media/syndicate/internal/domain"
)

// TestDeliveryPageShowsChanges: a metadata-only update's page names its
// scope and the changed field, with the old and new values as a tooltip.
func TestDeliveryPageShowsChanges(t *testing.T) {
	f := start(t)
	f.partner("acme", domain.Destination{URL: "file://" + t.TempDir()})
	f.asset("ep-1", 1024)
	f.wait(f.notify("ep-1", "acme")["acme"], domain.StatusDelivered)
	a, _, err := f.srv.Store.GetAsset(context.Background(), "ep-1")
	if err != nil {
		t.Fatal(err)
	}
	a.Title = "Retitled <b>"
	if _, err := f.api.PutAsset(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	id := f.notify("ep-1", "acme")["acme"]
	f.wait(id, domain.StatusDelivered)
	b := newBrowser(t, f.srv.URL)
	b.signIn(token)
	code, _, body := b.do("GET", "/deliveries/"+id, nil)
	for _, w := range []string{"update (metadata)", `id="changes"`, ">title</span>", "Episode ep-1 → Retitled &lt;b&gt;"} {
		if code != 200 || !strings.Contains(body, w) {
			t.Errorf("%d: no %q on the page", code, w)
		}
	}
}
