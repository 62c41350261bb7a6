// Package csv renders asset metadata as a YouTube-style CSV file
// (metadata.csv): a header row of column names and one row for the asset,
// quoted per RFC 4180 (CRLF line ends) by encoding/csv.
//
// Profile options: format_options.columns picks and orders the columns
// from domain.CSVColumns and metadata.<key> (default: all of
// domain.CSVColumns); format_options.file_name renames the file. Lists are
// joined with "|". A cell starting with = + - @, a tab or a carriage
// return gets a leading ' so a spreadsheet opening the file shows it as
// text instead of running it as a formula (OWASP "CSV injection"); a
// negative number is therefore written '-5.
package csv

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strings"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/format"
)

func init() { format.Register("csv", Format{}) }

// Format is the "csv" metadata format.
type Format struct{}

// columns computes each named column of domain.CSVColumns.
var columns = map[string]func(a domain.Asset, files []format.File) string{
	"id":          func(a domain.Asset, _ []format.File) string { return a.ID },
	"type":        func(a domain.Asset, _ []format.File) string { return a.Type },
	"title":       func(a domain.Asset, _ []format.File) string { return a.Title },
	"description": func(a domain.Asset, _ []format.File) string { return format.Description(a) },
	"keywords":    func(a domain.Asset, _ []format.File) string { return list(a, format.KeyKeywords) },
	"territories": func(a domain.Asset, _ []format.File) string { return list(a, format.KeyTerritories) },
	"media_file": func(_ domain.Asset, files []format.File) string {
		if i := format.MainMedia(files); i >= 0 {
			return files[i].Name
		}
		return ""
	},
	"image_file": func(_ domain.Asset, files []format.File) string {
		for _, f := range files {
			if f.IsImage() {
				return f.Name
			}
		}
		return ""
	},
}

// FileName is format_options.file_name, default metadata.csv.
func (Format) FileName(_ domain.Asset, p domain.Partner) string {
	if n := p.FormatOptions.FileName; n != "" {
		return n
	}
	return "metadata.csv"
}

// Render writes the header and the asset's row. A column the profile
// names that this build does not know is an error (the profile validation
// refuses it first).
func (Format) Render(a domain.Asset, p domain.Partner, files []format.File) ([]byte, error) {
	return render(a, names(p), files, "")
}

// RenderTakedown writes the profile's columns for the asset (no files),
// plus a last column "action" that says takedown.
func (Format) RenderTakedown(a domain.Asset, p domain.Partner) ([]byte, error) {
	return render(a, names(p), nil, string(domain.ActionTakedown))
}

// UsedFields are the asset fields the profile's columns print.
func (Format) UsedFields(p domain.Partner) ([]string, bool) {
	var out []string
	for _, n := range names(p) {
		switch n {
		case "id", "type", "title":
			out = append(out, n)
		case "description":
			out = append(out, format.DescriptionFields...)
		case "keywords", "territories":
			out = append(out, "metadata."+n)
		default:
			if strings.HasPrefix(n, "metadata.") {
				out = append(out, n)
			}
		}
	}
	return out, false
}

func names(p domain.Partner) []string {
	if len(p.FormatOptions.Columns) == 0 {
		return domain.CSVColumns
	}
	return p.FormatOptions.Columns
}

// render writes the header and the asset's row; a non-empty action adds
// an "action" column.
func render(a domain.Asset, names []string, files []format.File, action string) ([]byte, error) {
	row := make([]string, len(names))
	for i, n := range names {
		if key, ok := strings.CutPrefix(n, "metadata."); ok {
			row[i] = list(a, key)
		} else if col, ok := columns[n]; ok {
			row[i] = col(a, files)
		} else {
			return nil, fmt.Errorf("format_options.columns: unknown column %q", n)
		}
		row[i] = Defuse(row[i])
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	header := make([]string, len(names))
	for i, n := range names {
		header[i] = Defuse(n)
	}
	if action != "" {
		header, row = append(header, "action"), append(row, action)
	}
	if err := w.WriteAll([][]string{header, row}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Defuse prefixes a cell a spreadsheet would read as a formula with '.
func Defuse(cell string) string {
	if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
		return "'" + cell
	}
	return cell
}

func list(a domain.Asset, key string) string { return strings.Join(format.List(a, key), "|") }

var (
	_ format.Format     = Format{}
	_ format.FieldUser  = Format{}
	_ format.Takedowner = Format{}
)
