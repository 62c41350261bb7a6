package formattest

import (
	"strings"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/format"
)

// Rich is an episode with every metadata key the formats read, XML and
// CSV specials in its text, and JSON-decoded number types.
func Rich() domain.Asset {
	return domain.Asset{
		ID: "ep-101", Type: "episode", Title: `Pilot & "Premiere" <Part 1>`,
		Metadata: map[string]any{
			"description":            "It begins.\nA second line, with a comma.",
			"synopsis":               "Unused: description wins.",
			"keywords":               []any{"drama", "coast", "=cmd"},
			"territories":            []any{"GB", "IE"},
			"genres":                 []any{"Drama"},
			"rating":                 "TV-14",
			"year":                   2024.0,
			"run_time":               "00:42:10",
			"pub_date":               "2024-03-01",
			"creation_date":          "2024-02-20",
			"licensing_window_start": "2024-03-01",
			"licensing_window_end":   "2025-03-01",
			"season":                 1.0,
			"episode":                1.0,
			"series":                 "Coastline",
		},
		Media: []domain.MediaFile{{Role: "main", URI: "/src/main.mp4"}, {Role: "trailer", URI: "/src/trailer.mov"}},
		Images: []domain.Image{{Role: "cover", URI: "/src/cover.png", Width: 1920, Height: 1080},
			{Role: "poster", URI: "/src/poster.jpg", Width: 2000, Height: 3000}},
	}
}

// RichFiles is the package Build would make of Rich, with md5s.
func RichFiles() []format.File {
	return []format.File{
		{Name: "main.mp4", Role: "main", Size: 4194304, MD5: "5d41402abc4b2a76b9719d911017c592"},
		{Name: "trailer.mov", Role: "trailer", Size: 524288, MD5: "7d793037a0760186574b0282f2f435e7"},
		{Name: "images/cover.png", Role: "cover", Size: 2048, MD5: "9e107d9d372bb6826bd81d3542a419d6", Width: 1920, Height: 1080},
		{Name: "images/poster.jpg", Role: "poster", Size: 4096, MD5: "e4d909c290d0fb1ca068ffaddf22cbd0", Width: 2000, Height: 3000},
	}
}

// Minimal is a clip with a title, one media file and no metadata.
func Minimal() domain.Asset {
	return domain.Asset{ID: "c1", Type: "clip", Title: "C", Media: []domain.MediaFile{{Role: "main", URI: "/src/c.mp4"}}}
}

// MinimalFiles is the package of Minimal, without md5s (a format that
// did not ask for them gets none).
func MinimalFiles() []format.File {
	return []format.File{{Name: "main.mp4", Role: "main", Size: 1}}
}

// Odd is an asset whose metadata holds every JSON type, nesting, empty
// and null values, characters XML cannot carry, formula-like text and a
// long value.
func Odd() domain.Asset {
	a := Rich()
	a.Title = "]]> <!-- \x00\x1b\u2028 '\"&"
	a.Metadata = map[string]any{
		"description": "<b>bold</b> &amp; \x01\x7f \uFFFE end",
		"keywords":    []any{nil, "", 1.5, true, map[string]any{"a": []any{1.0}}, "+SUM(A1)"},
		"territories": "GB",
		"genres":      map[string]any{"x": nil},
		"rating":      nil,
		"year":        -0.0,
		"pub_date":    nil,
		"run_time":    []any{},
		"empty":       "",
		"nested":      map[string]any{"b": 2.0, "a": []any{"z", map[string]any{}}},
		"long":        strings.Repeat("x", 100000),
		"@at":         "-1",
	}
	return a
}
