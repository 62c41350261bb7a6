// Package json renders asset metadata as a JSON document (metadata.json):
// the asset's descriptive fields plus the package's files with their roles
// and sizes. It is the format every partner can read without a spec. A
// takedown document says "action": "takedown" and lists no files.
package json

import (
	"encoding/json"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/format"
)

func init() { format.Register("json", Format{}) }

// Format is the "json" metadata format.
type Format struct{}

// Document is the shape of metadata.json.
type Document struct {
	ID       string         `json:"id"`
	Type     string         `json:"type"`
	Title    string         `json:"title"`
	Metadata map[string]any `json:"metadata,omitempty"`
	Rights   *domain.Rights `json:"rights,omitempty"`
	// Action is "takedown" in a takedown document: remove the asset.
	Action string `json:"action,omitempty"`
	Files  []File `json:"files"`
}

// File is one file of the package as metadata.json lists it.
type File struct {
	Name string `json:"name"`
	Role string `json:"role"`
	Size int64  `json:"size"`
}

// FileName is always metadata.json.
func (Format) FileName(domain.Asset, domain.Partner) string { return "metadata.json" }

// Render writes the document, indented, with a trailing newline. It takes
// no format options.
func (Format) Render(a domain.Asset, _ domain.Partner, files []format.File) ([]byte, error) {
	doc := Document{ID: a.ID, Type: a.Type, Title: a.Title, Metadata: a.Metadata, Rights: a.Rights, Files: []File{}}
	for _, f := range files {
		doc.Files = append(doc.Files, File{Name: f.Name, Role: f.Role, Size: f.Size})
	}
	return encode(doc)
}

// UsedFields is everything: the document carries the whole asset.
func (Format) UsedFields(domain.Partner) ([]string, bool) { return nil, true }

// RenderTakedown writes the asset's id, type and title with
// "action": "takedown" and no files.
func (Format) RenderTakedown(a domain.Asset, _ domain.Partner) ([]byte, error) {
	return encode(Document{ID: a.ID, Type: a.Type, Title: a.Title, Rights: a.Rights, Action: string(domain.ActionTakedown), Files: []File{}})
}

func encode(doc Document) ([]byte, error) {
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

var (
	_ format.Format     = Format{}
	_ format.FieldUser  = Format{}
	_ format.Takedowner = Format{}
)
