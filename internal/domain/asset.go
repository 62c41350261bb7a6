package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"
)

// Asset is one catalog item as Syndicate delivers it: its descriptive
// metadata and the files (media renditions, images) that belong to it.
type Asset struct {
	ID       string         `json:"id"`
	Type     string         `json:"type"`
	Title    string         `json:"title"`
	Metadata map[string]any `json:"metadata,omitempty"`
	Media    []MediaFile    `json:"media,omitempty"`
	Images   []Image        `json:"images,omitempty"`
	// Rights is the licensing window, if any: not delivered before its
	// start, taken down from every partner at its end.
	Rights *Rights `json:"rights,omitempty"`
	// Version is the catalog version this snapshot is, set by Syndicate
	// when it loads one (ignored on input and by ContentHash); formats
	// that version their documents (ADI) use it.
	Version int `json:"version,omitempty"`
}

// MediaFile is one video/audio/subtitle rendition. URI is a local path or a
// file:// URL; Size and SHA256, when given, are checked while packaging.
type MediaFile struct {
	Role   string `json:"role"`
	URI    string `json:"uri"`
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// Image is one artwork file with its role (cover, poster, ...) and pixel size.
type Image struct {
	Role   string `json:"role"`
	URI    string `json:"uri"`
	Width  int    `json:"width,omitempty"`
	Height int    `json:"height,omitempty"`
	// Focal, when set, is the point a cropped derivative keeps in view
	// (default: the centre).
	Focal *Focal `json:"focal,omitempty"`
}

// AssetTypes lists the accepted values of Asset.Type.
var AssetTypes = []string{"episode", "movie", "clip", "series", "season", "trailer"}

var (
	idPattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	rolePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	hexSHA256   = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ValidID reports whether s can name an asset or a delivery: 1-128 ASCII
// letters, digits, '.', '_' or '-', starting with a letter or digit.
func ValidID(s string) bool { return idPattern.MatchString(s) }

// Validate reports every problem with the asset at once, each naming the
// field path, so a catalog import can be fixed in one pass.
func (a Asset) Validate() error {
	var errs []error
	if !ValidID(a.ID) {
		errs = append(errs, fmt.Errorf("id: %q is not a valid id (letters, digits, . _ -, up to 128)", a.ID))
	}
	if !slices.Contains(AssetTypes, a.Type) {
		errs = append(errs, fmt.Errorf("type: %q is not one of %v", a.Type, AssetTypes))
	}
	if a.Title == "" {
		errs = append(errs, errors.New("title: required"))
	}
	if len(a.Media) == 0 {
		errs = append(errs, errors.New("media: at least one media file is required"))
	}
	roles := map[string]bool{}
	for i, m := range a.Media {
		errs = append(errs, checkFile(fmt.Sprintf("media[%d]", i), m.Role, m.URI, roles)...)
		if m.Size < 0 {
			errs = append(errs, fmt.Errorf("media[%d].size: negative", i))
		}
		if m.SHA256 != "" && !hexSHA256.MatchString(m.SHA256) {
			errs = append(errs, fmt.Errorf("media[%d].sha256: want 64 lowercase hex digits", i))
		}
	}
	for i, im := range a.Images {
		errs = append(errs, checkFile(fmt.Sprintf("images[%d]", i), im.Role, im.URI, roles)...)
		if im.Width < 0 || im.Height < 0 {
			errs = append(errs, fmt.Errorf("images[%d]: negative pixel size", i))
		}
		if im.Focal != nil {
			errs = append(errs, im.Focal.validate(fmt.Sprintf("images[%d].focal", i))...)
		}
	}
	if err := a.Rights.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func checkFile(field, role, uri string, seen map[string]bool) []error {
	var errs []error
	if !rolePattern.MatchString(role) {
		errs = append(errs, fmt.Errorf("%s.role: %q must be lowercase letters, digits, _ or -", field, role))
	} else if seen[role] {
		errs = append(errs, fmt.Errorf("%s.role: %q used twice", field, role))
	}
	seen[role] = true
	if uri == "" {
		errs = append(errs, fmt.Errorf("%s.uri: required", field))
	}
	return errs
}

// ContentHash is the sha256 of the asset's canonical JSON form. Two assets
// with the same hash deliver the same package, so the hash identifies an
// asset version.
func (a Asset) ContentHash() string {
	a.Version = 0
	if r := a.Rights; r != nil { // one instant, one hash, whatever the zone it was written in
		a.Rights = &Rights{Start: utc(r.Start), End: utc(r.End)}
	}
	b, err := json.Marshal(a) // map keys are sorted: the form is canonical
	if err != nil {
		panic("domain: asset does not marshal: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
