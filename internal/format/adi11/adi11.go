// Package adi11 renders asset metadata as a CableLabs ADI 1.1 package
// (ADI.XML, valid against the ADI 1.1 DTD): a package AMS, a title asset
// with the descriptive App_Data, and under it a movie (the main media
// file), a preview (role trailer) and a poster per image, each with its
// Content file name, Content_FileSize and Content_CheckSum (md5). Other
// media files travel in the package but are not listed: ADI 1.1 has no
// asset class for them.
//
// Profile options: format_options.provider and provider_id (AMS Provider,
// Provider_ID). Version_Major is the catalog version of the asset snapshot
// being delivered (it goes up with every change, so every update bumps it),
// else metadata.version, else 1; Version_Minor is always 0. Asset_IDs are 4 letters from
// Provider and 16 digits hashed from the asset id and the asset's place in
// the package, so an update keeps them and only the version changes.
// Creation_Date is metadata.creation_date, else pub_date or release_date,
// else 1970-01-01: no clock is read, so the document is a pure function of
// asset and profile. Licensing_Window_Start/End are the metadata keys,
// else the asset's rights window. A takedown is the same tree of assets
// with AMS Verb="DELETE" and no content.
package adi11

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/xml"
	"fmt"
	"math"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/format"
)

func init() { format.Register("adi11", Format{}) }

// Format is the "adi11" metadata format.
type Format struct{}

// Doctype names the DTD the way ADI files conventionally do.
const Doctype = `<!DOCTYPE ADI SYSTEM "ADI.DTD">`

type adi struct {
	XMLName  xml.Name `xml:"ADI"`
	Metadata metadata `xml:"Metadata"`
	Assets   []asset  `xml:"Asset"`
}

type metadata struct {
	AMS     ams       `xml:"AMS"`
	AppData []appData `xml:"App_Data"`
}

type ams struct {
	Provider     string `xml:"Provider,attr"`
	Product      string `xml:"Product,attr"`
	AssetName    string `xml:"Asset_Name,attr"`
	VersionMajor int    `xml:"Version_Major,attr"`
	VersionMinor int    `xml:"Version_Minor,attr"`
	Description  string `xml:"Description,attr"`
	CreationDate string `xml:"Creation_Date,attr"`
	ProviderID   string `xml:"Provider_ID,attr"`
	AssetID      string `xml:"Asset_ID,attr"`
	AssetClass   string `xml:"Asset_Class,attr"`
	// Verb is DELETE in a takedown; empty (absent) adds or updates.
	Verb string `xml:"Verb,attr,omitempty"`
}

type appData struct {
	App   string `xml:"App,attr"`
	Name  string `xml:"Name,attr"`
	Value string `xml:"Value,attr"`
}

type asset struct {
	Metadata metadata `xml:"Metadata"`
	Assets   []asset  `xml:"Asset"`
	Content  *content `xml:"Content"`
}

type content struct {
	Value string `xml:"Value,attr"`
}

// FileName is always ADI.XML.
func (Format) FileName(domain.Asset, domain.Partner) string { return "ADI.XML" }

// NeedsChecksums is always true: every Content has its Content_CheckSum.
func (Format) NeedsChecksums(domain.Partner) bool { return true }

// Render writes the package document, indented, after the XML
// declaration and the DOCTYPE.
func (Format) Render(a domain.Asset, p domain.Partner, files []format.File) ([]byte, error) {
	return render(a, p, files, "")
}

// RenderTakedown writes the same tree of assets (package, title, movie,
// preview, posters, with the same Asset_IDs) with AMS Verb="DELETE" on
// each and no Content: ADI 1.1's request to remove a package.
func (Format) RenderTakedown(a domain.Asset, p domain.Partner) ([]byte, error) {
	var files []format.File // named as packaging names them, so the places match
	for _, m := range a.Media {
		files = append(files, format.File{Name: m.Role + strings.ToLower(path.Ext(m.URI)), Role: m.Role})
	}
	for _, im := range a.Images {
		files = append(files, format.File{Name: "images/" + im.Role + strings.ToLower(path.Ext(im.URI)), Role: im.Role})
	}
	return render(a, p, files, "DELETE")
}

// UsedFields are the fields the title asset and its children print.
func (Format) UsedFields(domain.Partner) ([]string, bool) {
	out := []string{"id", "title", "rights"}
	for _, k := range []string{format.KeyRating, format.KeyRunTime, format.KeyYear, format.KeyGenres, format.KeyWindowStart,
		format.KeyWindowEnd, format.KeyCreationDate, format.KeyPubDate, format.KeyReleaseDate, format.KeyVersion} {
		out = append(out, "metadata."+k)
	}
	return append(out, format.DescriptionFields...), false
}

func render(a domain.Asset, p domain.Partner, files []format.File, verb string) ([]byte, error) {
	created := "1970-01-01"
	if t, ok, err := format.Date(a, format.KeyCreationDate, format.KeyPubDate, format.KeyReleaseDate); err != nil {
		return nil, err
	} else if ok {
		created = t.Format("2006-01-02")
	}
	b := builder{a: a, opts: p.FormatOptions, created: created, version: version(a), verb: verb}
	title := asset{Metadata: b.meta("title", "title", titleData(a))}
	if i := format.MainMedia(files); i >= 0 {
		title.Assets = append(title.Assets, b.file("movie", "movie", files[i]))
	}
	for _, f := range files {
		if f.Role == "trailer" && !f.IsImage() {
			title.Assets = append(title.Assets, b.file("preview", "preview", f))
			break
		}
	}
	for _, f := range files {
		if f.IsImage() {
			title.Assets = append(title.Assets, b.file("poster", "poster_"+f.Role, f))
		}
	}
	doc := adi{Metadata: b.meta("package", "package", []appData{mod("Metadata_Spec_Version", "CableLabsVOD1.1")}),
		Assets: []asset{title}}
	out, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header+Doctype+"\n"), append(out, '\n')...), nil
}

// builder makes the AMS of each asset in the package.
type builder struct {
	a       domain.Asset
	opts    domain.FormatOptions
	created string
	version int
	verb    string
}

// meta is the Metadata of the asset of class class; place names the
// asset within the package (it seeds its Asset_ID and Asset_Name).
func (b builder) meta(class, place string, data []appData) metadata {
	return metadata{AMS: ams{
		Provider: b.opts.Provider, Product: "MOD", AssetName: assetName(b.a.ID, place),
		VersionMajor: b.version, VersionMinor: 0, Description: b.a.Title + " (" + class + ")",
		CreationDate: b.created, ProviderID: b.opts.ProviderID,
		AssetID: assetID(b.opts.Provider, b.a.ID, place), AssetClass: class, Verb: b.verb,
	}, AppData: data}
}

// file is a movie, preview or poster asset for one package file.
func (b builder) file(class, place string, f format.File) asset {
	data := []appData{mod("Type", class)}
	if b.verb == "DELETE" { // what is removed needs no sizes, sums or files
		return asset{Metadata: b.meta(class, place, data)}
	}
	if f.IsImage() && f.Width > 0 && f.Height > 0 {
		data = append(data, mod("Image_Aspect_Ratio", fmt.Sprintf("%dx%d", f.Width, f.Height)))
	}
	if class == "preview" {
		data = appendIf(data, "Rating", format.Text(b.a, format.KeyRating))
	}
	data = append(data, mod("Content_FileSize", strconv.FormatInt(f.Size, 10)))
	data = appendIf(data, "Content_CheckSum", f.MD5)
	return asset{Metadata: b.meta(class, place, data), Content: &content{Value: f.Name}}
}

// titleData is the title asset's App_Data, with the CableLabs 1.1 content
// spec's length limits (Title_Brief 19, Title 128, Summary_Short 256).
func titleData(a domain.Asset) []appData {
	d := []appData{mod("Type", "title"), mod("Title_Brief", cut(a.Title, 19)), mod("Title", cut(a.Title, 128))}
	d = appendIf(d, "Summary_Short", cut(format.Description(a), 256))
	d = appendIf(d, "Rating", format.Text(a, format.KeyRating))
	d = appendIf(d, "Run_Time", format.Text(a, format.KeyRunTime))
	d = appendIf(d, "Year", format.Text(a, format.KeyYear))
	for _, g := range format.List(a, format.KeyGenres) {
		d = append(d, mod("Genre", g))
	}
	start, end := format.Text(a, format.KeyWindowStart), format.Text(a, format.KeyWindowEnd)
	if r := a.Rights; r != nil { // the metadata keys win: they are the catalog's words for this partner type
		start, end = cmp.Or(start, adiTime(r.Start)), cmp.Or(end, adiTime(r.End))
	}
	d = appendIf(d, "Licensing_Window_Start", start)
	d = appendIf(d, "Licensing_Window_End", end)
	return d
}

// adiTime is a window edge as ADI writes it (UTC, no zone), or "".
func adiTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05")
}

func mod(name, value string) appData { return appData{App: "MOD", Name: name, Value: value} }

func appendIf(d []appData, name, value string) []appData {
	if value == "" {
		return d
	}
	return append(d, mod(name, value))
}

// version is the snapshot's catalog version, else metadata.version when
// it is a positive integer, else 1.
func version(a domain.Asset) int {
	if a.Version > 0 {
		return a.Version
	}
	v, err := strconv.ParseFloat(format.Text(a, format.KeyVersion), 64)
	if err != nil || v < 1 || v > math.MaxInt32 || v != math.Trunc(v) {
		return 1
	}
	return int(v)
}

// assetID is ADI 1.1's 20-character Asset_ID: 4 letters taken from the
// provider (padded with X) and 16 digits from a hash of the asset id and
// the asset's place in the package.
func assetID(provider, id, place string) string {
	var prefix []rune
	for _, r := range strings.ToUpper(provider) {
		if r >= 'A' && r <= 'Z' && len(prefix) < 4 {
			prefix = append(prefix, r)
		}
	}
	for len(prefix) < 4 {
		prefix = append(prefix, 'X')
	}
	sum := sha256.Sum256([]byte(id + "\x00" + place))
	return fmt.Sprintf("%s%016d", string(prefix), binary.BigEndian.Uint64(sum[:8])%1e16)
}

// assetName is <id>_<place>, the id shortened to keep within ADI's 50
// characters.
func assetName(id, place string) string {
	return cut(cut(id, max(50-1-len(place), 8))+"_"+place, 50)
}

// cut shortens s to at most n runes, dropping trailing spaces left by the cut.
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return strings.TrimRightFunc(string(r[:max(n, 0)]), unicode.IsSpace)
}

var (
	_ format.Format         = Format{}
	_ format.ChecksumNeeder = Format{}
	_ format.FieldUser      = Format{}
	_ format.Takedowner     = Format{}
)
