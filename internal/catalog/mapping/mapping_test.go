package mapping_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/syndicate-media/syndicate/internal/catalog/mapping"
	"github.com/syndicate-media/syndicate/internal/domain"
)

// full maps every asset field.
var full = map[string]string{
	"id":                   "data.id",
	"type":                 "=episode",
	"title":                "data.attributes.title",
	"version":              "data.revision",
	"metadata.synopsis":    "data.attributes.synopsis",
	"metadata.year":        "data.attributes.year",
	"metadata.territories": "data.rights[*].country",
	"metadata.rating":      "data.attributes.rating?",
	"metadata.first_tag":   "data.tags[0]",
	"media":                "data.renditions[*]",
	"media.role":           "kind",
	"media.uri":            "file.url",
	"media.size":           "file.bytes",
	"media.sha256":         "file.sha256",
	"images":               "data.artwork[*]",
	"images.role":          "role",
	"images.uri":           "href",
	"images.width":         "w",
	"images.height":        "h?",
}

const doc = `{"data": {
  "id": "ep-1", "revision": "12",
  "attributes": {"title": "Pilot", "synopsis": "It begins.", "year": 2024},
  "tags": ["drama", "new"],
  "rights": [{"country": "GB"}, {"country": "IE"}],
  "renditions": [
    {"kind": "main", "file": {"url": "https://cdn.example/ep-1.mp4", "bytes": 1048576, "sha256": "` + sha + `"}},
    {"kind": "trailer", "file": {"url": "https://cdn.example/ep-1-t.mp4", "bytes": "2048", "sha256": "` + sha + `"}}
  ],
  "artwork": [{"role": "cover", "href": "https://cdn.example/c.png", "w": 1920, "h": 1080},
              {"role": "poster", "href": "https://cdn.example/p.png", "w": 2000, "h": null}]
}}`

const sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestApplyEveryField(t *testing.T) {
	m, err := mapping.Parse(full)
	if err != nil {
		t.Fatal(err)
	}
	if !m.HasVersion() {
		t.Fatal("HasVersion = false")
	}
	a, v, err := m.Apply(decode(t, doc), "ep-1")
	if err != nil {
		t.Fatal(err)
	}
	want := domain.Asset{ID: "ep-1", Type: "episode", Title: "Pilot",
		Metadata: map[string]any{"synopsis": "It begins.", "year": 2024.0, "territories": []any{"GB", "IE"}, "first_tag": "drama"},
		Media: []domain.MediaFile{
			{Role: "main", URI: "https://cdn.example/ep-1.mp4", Size: 1048576, SHA256: sha},
			{Role: "trailer", URI: "https://cdn.example/ep-1-t.mp4", Size: 2048, SHA256: sha},
		},
		Images: []domain.Image{{Role: "cover", URI: "https://cdn.example/c.png", Width: 1920, Height: 1080},
			{Role: "poster", URI: "https://cdn.example/p.png", Width: 2000}},
	}
	if v != 12 || !reflect.DeepEqual(a, want) {
		t.Fatalf("Apply = v%d\n%+v\nwant v12\n%+v", v, a, want)
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestApplyProblems(t *testing.T) {
	m, err := mapping.Parse(full)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"missing title", `{"data": {"id": "ep-1", "revision": 1, "attributes": {"synopsis": "s", "year": 1}, "tags": ["x"], "rights": [], "renditions": [], "artwork": []}}`,
			[]string{`field "title" (data.attributes.title): missing`}},
		{"null title", `{"data": {"id": "ep-1", "revision": 1, "attributes": {"title": null, "synopsis": "s", "year": 1}, "tags": ["x"], "rights": [], "renditions": [], "artwork": []}}`,
			[]string{`field "title" (data.attributes.title): missing (null)`}},
		{"wrong types", `{"data": {"id": "ep-1", "revision": 1.5, "attributes": {"title": 42, "synopsis": "s", "year": 1}, "tags": ["x"], "rights": [], "renditions": [{"kind": "main", "file": {"url": 7, "bytes": -1, "sha256": "x"}}], "artwork": []}}`,
			[]string{`field "title" (data.attributes.title): want a string, got a number`,
				`field "version" (data.revision): want a whole number`,
				`field "media[0].uri" (data.renditions[0].file.url): want a string, got a number`}},
		{"an item's field", `{"data": {"id": "ep-1", "revision": 1, "attributes": {"title": "t", "synopsis": "s", "year": 1}, "tags": ["x"], "rights": [{"country": "GB"}, {}], "renditions": [{"kind": "main", "file": {"url": "u", "bytes": 1, "sha256": "` + sha + `"}}, {"kind": "x", "file": {"bytes": 1, "sha256": "s"}}], "artwork": []}}`,
			[]string{`field "media[1].uri" (data.renditions[1].file.url): missing`,
				`field "metadata.territories" (data.rights[1].country): missing`}},
		{"other asset", `{"data": {"id": "ep-2", "revision": 1, "attributes": {"title": "t", "synopsis": "s", "year": 1}, "tags": ["x"], "rights": [], "renditions": [], "artwork": []}}`,
			[]string{`field "id" (data.id): the answer is about asset "ep-2", not "ep-1"`}},
		{"shape", `{"data": {"id": "ep-1", "revision": 0, "attributes": "Pilot", "tags": [], "rights": {}, "renditions": [], "artwork": []}}`,
			[]string{`field "title" (data.attributes.title): data.attributes is a string, not an object`,
				`field "version" (data.revision): want a version from 1 to 2147483647`,
				`field "metadata.territories" (data.rights[*].country): data.rights is an object, not a list`,
				`field "metadata.first_tag" (data.tags[0]): missing (data.tags has 0 items)`}},
		{"null data", `{"data": null}`, []string{`field "title" (data.attributes.title): missing (data is null)`}},
		{"not an object", `[1, 2]`, []string{`field "title" (data.attributes.title): the answer is a list, not an object`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := m.Apply(decode(t, tc.doc), "ep-1")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestOptionalAndConstants(t *testing.T) {
	m, err := mapping.Parse(map[string]string{
		"type": "=movie", "title": "t", "metadata.rating": "r?", "metadata.source": "=cms",
		"media": "files[*]", "media.role": "=main", "media.uri": "u", "media.size": "=100",
		"images": "art[*]?", "images.role": "role", "images.uri": "uri",
	})
	if err != nil {
		t.Fatal(err)
	}
	a, v, err := m.Apply(decode(t, `{"t": "Film", "r": null, "files": [{"u": "/m.mp4"}]}`), "mv-1")
	if err != nil {
		t.Fatal(err)
	}
	want := domain.Asset{ID: "mv-1", Type: "movie", Title: "Film", Metadata: map[string]any{"source": "cms"},
		Media: []domain.MediaFile{{Role: "main", URI: "/m.mp4", Size: 100}}}
	if v != 0 || m.HasVersion() || !reflect.DeepEqual(a, want) {
		t.Fatalf("Apply = v%d %+v, want v0 %+v", v, a, want)
	}
}

func TestParseProblems(t *testing.T) {
	_, err := mapping.Parse(map[string]string{
		"title":        "data..title",
		"type":         "data.types[*]",
		"media":        "data.renditions",
		"media.role":   "role",
		"media.colour": "c",
		"images.uri":   "u",
		"duration":     "d",
		"version":      "=seven",
		"metadata.a":   "x[y]",
		"metadata.b":   "x[*].y[*]",
		"metadata.c":   "",
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{
		`mapping.media.uri: required`,
		`mapping.title: "data..title": empty key`,
		`mapping.type: "data.types[*]": [*] yields a list, type is one value`,
		`mapping.media: "data.renditions": want a list path with one [*], e.g. data.media[*]`,
		`mapping.media.colour: unknown field`,
		`mapping.images.uri: set images (the list) too`,
		`mapping.duration: unknown field`,
		`mapping.version: constant "seven" is not a whole number`,
		`mapping.metadata.a: "x[y]": [y] is not a list index`,
		`mapping.metadata.b: "x[*].y[*]": at most one [*] per path`,
		`mapping.metadata.c: empty path`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}

func TestAbsent(t *testing.T) {
	p, err := mapping.ParsePath("getAsset")
	if err != nil {
		t.Fatal(err)
	}
	for doc, want := range map[string]bool{`{"getAsset": null}`: true, `{}`: true, `null`: true, `{"getAsset": {}}`: false} {
		if got := p.Absent(decode(t, doc)); got != want {
			t.Errorf("Absent(%s) = %v, want %v", doc, got, want)
		}
	}
	if _, err := mapping.ParsePath("=x"); err == nil {
		t.Error("a constant as a path: no error")
	}
}
