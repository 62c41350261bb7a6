// Package mrss renders asset metadata as Media RSS 1.5.1 (rssboard.org,
// an RSS 2.0 namespace): one channel with one item per package. Every
// media file and image is a media:content (url relative to the package
// folder, fileSize, type, medium) with its media:hash (md5); images are
// also media:thumbnail with their pixel size. Keywords become
// media:keywords and metadata.territories a media:restriction
// (relationship="allow" type="country"). Profile option: format_options.link,
// the channel link.
package mrss

import (
	"encoding/xml"
	"net/url"
	"strings"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/format"
)

func init() { format.Register("mrss", Format{}) }

// Format is the "mrss" metadata format.
type Format struct{}

// Namespace is the Media RSS namespace, trailing slash included.
const Namespace = "http://search.yahoo.com/mrss/"

type rss struct {
	XMLName xml.Name `xml:"rss"`
	Version string   `xml:"version,attr"`
	Media   string   `xml:"xmlns:media,attr"`
	Channel channel  `xml:"channel"`
}

type channel struct {
	Title       string `xml:"title"`
	Link        string `xml:"link"`
	Description string `xml:"description"`
	Item        item   `xml:"item"`
}

type item struct {
	Title       string       `xml:"title"`
	Description string       `xml:"description,omitempty"`
	GUID        guid         `xml:"guid"`
	PubDate     string       `xml:"pubDate,omitempty"`
	Content     []content    `xml:"media:content"`
	Thumbnails  []thumbnail  `xml:"media:thumbnail"`
	Keywords    string       `xml:"media:keywords,omitempty"`
	Restriction *restriction `xml:"media:restriction"`
	Status      *status      `xml:"media:status"`
}

// status is Media RSS's media:status: "deleted" asks to remove the item.
type status struct {
	State  string `xml:"state,attr"`
	Reason string `xml:"reason,attr,omitempty"`
}

type guid struct {
	IsPermaLink string `xml:"isPermaLink,attr"`
	Value       string `xml:",chardata"`
}

type content struct {
	URL       string `xml:"url,attr"`
	FileSize  int64  `xml:"fileSize,attr"`
	Type      string `xml:"type,attr"`
	Medium    string `xml:"medium,attr,omitempty"`
	IsDefault string `xml:"isDefault,attr,omitempty"`
	Width     int    `xml:"width,attr,omitempty"`
	Height    int    `xml:"height,attr,omitempty"`
	Hash      *hash  `xml:"media:hash"`
}

type hash struct {
	Algo  string `xml:"algo,attr"`
	Value string `xml:",chardata"`
}

type thumbnail struct {
	URL    string `xml:"url,attr"`
	Width  int    `xml:"width,attr,omitempty"`
	Height int    `xml:"height,attr,omitempty"`
}

type restriction struct {
	Relationship string `xml:"relationship,attr"`
	Type         string `xml:"type,attr"`
	Value        string `xml:",chardata"`
}

// FileName is always metadata.xml.
func (Format) FileName(domain.Asset, domain.Partner) string { return "metadata.xml" }

// NeedsChecksums is always true: every media:content carries media:hash.
func (Format) NeedsChecksums(domain.Partner) bool { return true }

// Render writes the feed, indented, after an XML declaration. pubDate is
// metadata.pub_date (else release_date) in RFC 1123 form; the main media
// file (format.MainMedia) is isDefault.
func (Format) Render(a domain.Asset, p domain.Partner, files []format.File) ([]byte, error) {
	desc := format.Description(a)
	it := item{Title: a.Title, Description: desc, GUID: guid{IsPermaLink: "false", Value: a.ID},
		Keywords: strings.Join(format.List(a, format.KeyKeywords), ", ")}
	pub, ok, err := format.Date(a, format.KeyPubDate, format.KeyReleaseDate)
	if err != nil {
		return nil, err
	}
	if ok {
		it.PubDate = pub.Format(time.RFC1123Z)
	}
	main := format.MainMedia(files)
	for i, f := range files {
		c := content{URL: ref(f.Name), FileSize: f.Size, Type: f.MIMEType(), Medium: f.Medium()}
		if i == main {
			c.IsDefault = "true"
		}
		if f.MD5 != "" {
			c.Hash = &hash{Algo: "md5", Value: f.MD5}
		}
		if f.IsImage() {
			c.Width, c.Height = f.Width, f.Height
			it.Thumbnails = append(it.Thumbnails, thumbnail{URL: c.URL, Width: f.Width, Height: f.Height})
		}
		it.Content = append(it.Content, c)
	}
	if ts := format.List(a, format.KeyTerritories); len(ts) > 0 {
		it.Restriction = &restriction{Relationship: "allow", Type: "country", Value: strings.Join(ts, " ")}
	}
	if desc == "" {
		desc = a.Title
	}
	return encode(rss{Version: "2.0", Media: Namespace,
		Channel: channel{Title: a.Title, Link: p.FormatOptions.Link, Description: desc, Item: it}})
}

// RenderTakedown writes the item (title, guid) with no media and
// <media:status state="deleted">, Media RSS's way to withdraw an item.
func (Format) RenderTakedown(a domain.Asset, p domain.Partner) ([]byte, error) {
	it := item{Title: a.Title, GUID: guid{IsPermaLink: "false", Value: a.ID},
		Status: &status{State: "deleted", Reason: "takedown"}}
	return encode(rss{Version: "2.0", Media: Namespace,
		Channel: channel{Title: a.Title, Link: p.FormatOptions.Link, Description: a.Title, Item: it}})
}

// UsedFields are the fields Render prints.
func (Format) UsedFields(domain.Partner) ([]string, bool) {
	return append([]string{"id", "title", "metadata." + format.KeyKeywords, "metadata." + format.KeyPubDate,
		"metadata." + format.KeyReleaseDate, "metadata." + format.KeyTerritories}, format.DescriptionFields...), false
}

func encode(doc rss) ([]byte, error) {
	b, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(append([]byte(xml.Header), b...), '\n'), nil
}

// ref is a package file name as a relative URL reference.
func ref(name string) string { return (&url.URL{Path: name}).EscapedPath() }

var (
	_ format.Format         = Format{}
	_ format.ChecksumNeeder = Format{}
	_ format.FieldUser      = Format{}
	_ format.Takedowner     = Format{}
)
