package change_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/change"
	"github.com/syndicate-media/syndicate/internal/domain"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) *time.Time { t := now.Add(d); return &t }

func base() domain.Asset {
	return domain.Asset{ID: "ep-1", Type: "episode", Title: "Pilot", Version: 1,
		Metadata: map[string]any{"synopsis": "A start.", "genres": []any{"drama"}},
		Media:    []domain.MediaFile{{Role: "main", URI: "/m/ep-1.mp4", Size: 10}},
		Images:   []domain.Image{{Role: "cover", URI: "/i/cover.png", Width: 1920, Height: 1080}}}
}

func with(mut func(a *domain.Asset)) domain.Asset {
	a := base()
	a.Metadata = map[string]any{"synopsis": "A start.", "genres": []any{"drama"}}
	a.Version = 2
	mut(&a)
	return a
}

var (
	jsonPartner = domain.Partner{ID: "jp", Format: "json"}
	csvPartner  = domain.Partner{ID: "cp", Format: "csv"}
	// what csv with columns id,title uses, and json's everything
	csvUses  = change.PackageFields([]string{"id", "title"}, false)
	jsonUses = change.PackageFields(nil, true)
	synUses  = change.PackageFields([]string{"title", "metadata.synopsis"}, false)
)

func TestDetect(t *testing.T) {
	prev := base()
	cases := []struct {
		name    string
		prev    *domain.Asset
		next    domain.Asset
		p       domain.Partner
		uses    change.FieldSet
		action  domain.Action
		scope   domain.Scope
		fields  []string
		reason  string
		waitFor *time.Time
	}{
		{name: "never delivered", next: base(), p: jsonPartner, uses: jsonUses, action: domain.ActionCreate, scope: domain.ScopeFull},
		{name: "synopsis only, partner prints it", prev: &prev, next: with(func(a *domain.Asset) { a.Metadata["synopsis"] = "New." }),
			p: jsonPartner, uses: synUses, action: domain.ActionUpdate, scope: domain.ScopeMetadata, fields: []string{"metadata.synopsis"}},
		{name: "synopsis only, csv without that column", prev: &prev, next: with(func(a *domain.Asset) { a.Metadata["synopsis"] = "New." }),
			p: csvPartner, uses: csvUses, action: change.Noop, reason: "changed: metadata.synopsis"},
		{name: "image change is full", prev: &prev, next: with(func(a *domain.Asset) { a.Images[0].URI = "/i/cover2.png" }),
			p: csvPartner, uses: csvUses, action: domain.ActionUpdate, scope: domain.ScopeFull, fields: []string{"images.cover"}},
		{name: "new image role is full", prev: &prev, next: with(func(a *domain.Asset) {
			a.Images = append(a.Images, domain.Image{Role: "poster", URI: "/i/p.png"})
		}), p: csvPartner, uses: csvUses, action: domain.ActionUpdate, scope: domain.ScopeFull, fields: []string{"images.poster"}},
		{name: "media change is full", prev: &prev, next: with(func(a *domain.Asset) { a.Media[0].Size = 11 }),
			p: csvPartner, uses: csvUses, action: domain.ActionUpdate, scope: domain.ScopeFull, fields: []string{"media.main"}},
		{name: "media and title", prev: &prev, next: with(func(a *domain.Asset) { a.Media[0].URI = "/m/new.mp4"; a.Title = "Pilot!" }),
			p: jsonPartner, uses: jsonUses, action: domain.ActionUpdate, scope: domain.ScopeFull, fields: []string{"title", "media.main"}},
		{name: "nothing changed", prev: &prev, next: base(), p: jsonPartner, uses: jsonUses, action: change.Noop, reason: "has this content already"},
		{name: "rights end in the past: takedown", prev: &prev, next: with(func(a *domain.Asset) { a.Rights = &domain.Rights{End: at(-time.Hour)} }),
			p: csvPartner, uses: csvUses, action: domain.ActionTakedown, fields: []string{"rights.end"}, reason: "rights window ended"},
		{name: "rights ended, never delivered", next: with(func(a *domain.Asset) { a.Rights = &domain.Rights{End: at(-time.Hour)} }),
			p: csvPartner, uses: csvUses, action: change.Noop, reason: "does not have the asset"},
		{name: "rights end exactly now", prev: &prev, next: with(func(a *domain.Asset) { a.Rights = &domain.Rights{End: at(0)} }),
			p: jsonPartner, uses: jsonUses, action: domain.ActionTakedown, fields: []string{"rights.end"}},
		{name: "window not open yet waits", next: with(func(a *domain.Asset) { a.Rights = &domain.Rights{Start: at(time.Hour)} }),
			p: jsonPartner, uses: jsonUses, action: domain.ActionCreate, scope: domain.ScopeFull, waitFor: at(time.Hour)},
		{name: "rights change, format prints rights", prev: &prev, next: with(func(a *domain.Asset) { a.Rights = &domain.Rights{End: at(time.Hour)} }),
			p: jsonPartner, uses: jsonUses, action: domain.ActionUpdate, scope: domain.ScopeMetadata, fields: []string{"rights.end"}},
		{name: "rights change, format does not print rights", prev: &prev, next: with(func(a *domain.Asset) { a.Rights = &domain.Rights{End: at(time.Hour)} }),
			p: csvPartner, uses: csvUses, action: change.Noop, reason: "rights.end"},
		{name: "media moved, same sha256", prev: ptr(with(func(a *domain.Asset) { a.Media[0].SHA256 = strings.Repeat("a", 64) })),
			next: with(func(a *domain.Asset) {
				a.Media[0].SHA256 = strings.Repeat("a", 64)
				a.Media[0].URI = "/archive/ep-1.mp4"
			}),
			p: jsonPartner, uses: jsonUses, action: change.Noop},
		{name: "metadata wildcard", prev: &prev, next: with(func(a *domain.Asset) { a.Metadata["rating"] = "TV-14" }),
			p: jsonPartner, uses: change.PackageFields([]string{"metadata.*"}, false), action: domain.ActionUpdate, scope: domain.ScopeMetadata, fields: []string{"metadata.rating"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := change.Detect(c.prev, c.next, c.p, c.uses, now)
			if r.Action != c.action || r.Scope != c.scope {
				t.Fatalf("action %q scope %q, want %q %q (%+v)", r.Action, r.Scope, c.action, c.scope, r)
			}
			if got := r.Fields(); len(got)+len(c.fields) > 0 && !reflect.DeepEqual(got, c.fields) {
				t.Errorf("fields %v, want %v", got, c.fields)
			}
			if !strings.Contains(r.Reason, c.reason) {
				t.Errorf("reason %q lacks %q", r.Reason, c.reason)
			}
			if c.waitFor == nil && !r.NotBefore.IsZero() || c.waitFor != nil && !r.NotBefore.Equal(*c.waitFor) {
				t.Errorf("not before %v, want %v", r.NotBefore, c.waitFor)
			}
		})
	}
}

func ptr(a domain.Asset) *domain.Asset { return &a }

func TestChangeValuesAreShortened(t *testing.T) {
	prev := base()
	long := strings.Repeat("é", 500)
	r := change.Detect(&prev, with(func(a *domain.Asset) { a.Metadata["synopsis"] = long }), jsonPartner, jsonUses, now)
	if len(r.Changes) != 1 {
		t.Fatalf("%+v", r)
	}
	c := r.Changes[0]
	if c.Old != "A start." || len([]rune(c.New.(string))) != 120 || !strings.HasSuffix(c.New.(string), "…") {
		t.Errorf("old %v new %q", c.Old, c.New)
	}
	if c.Kind != domain.ChangeMetadata {
		t.Errorf("kind %q", c.Kind)
	}
}

func TestFieldSet(t *testing.T) {
	f := change.FieldSet{Fields: []string{"title", "metadata.*", "rights"}}
	for field, want := range map[string]bool{"title": true, "type": false, "metadata.x": true, "rights.end": true, "images.cover": false} {
		if f.Has(field) != want {
			t.Errorf("Has(%q) = %v", field, !want)
		}
	}
	if !(change.FieldSet{All: true}).Has("anything") {
		t.Error("All does not use everything")
	}
}
