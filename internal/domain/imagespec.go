package domain

import (
	"errors"
	"fmt"
	"math"
	"path"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// ImageSpec is one image derivative a partner wants in its packages: an
// asset image resized and cropped to the partner's size, in the partner's
// format, within its byte budget.
type ImageSpec struct {
	// Role names the derivative in the package (e.g. cover_small); one
	// role per derivative.
	Role string `json:"role"`
	// Name is the derivative's file name in the package, e.g.
	// images/cover-640x360.jpg; its extension must suit Format. Default
	// images/<role>.jpg or .png.
	Name string `json:"name,omitempty"`
	// Width is the derivative's width in pixels (1-10000).
	Width int `json:"width"`
	// Height is the derivative's height in pixels (1-10000).
	Height int `json:"height"`
	// Crop is fill (cover the whole size, cropping around the image's focal
	// point) or fit (show the whole image, padded with Background).
	// Default fill.
	Crop string `json:"crop,omitempty"`
	// Format is jpeg or png. Default jpeg.
	Format string `json:"format,omitempty"`
	// Quality is the JPEG quality, 1-100 (default 85); with MaxBytes it
	// is lowered until the file fits, down to 30.
	Quality int `json:"quality,omitempty"`
	// MaxBytes is the largest file the partner accepts; 0 is no limit.
	MaxBytes int64 `json:"max_bytes,omitempty"`
	// MaxUpscale is how far a source smaller than the derivative may be
	// enlarged: 1 never enlarges (the default), 1.5 allows half again,
	// at most 4. A source that would need more fails the delivery.
	MaxUpscale float64 `json:"max_upscale,omitempty"`
	// Background (#rrggbb) fills fit's padding and shows through
	// transparent pixels. Default: transparent for png, black for jpeg.
	Background string `json:"background,omitempty"`
	// Source is the role of the asset image to derive from. Default Role.
	Source string `json:"source,omitempty"`
}

// Focal is the point of an image that a crop keeps: X from the left and Y
// from the top edge, each a fraction between 0 and 1.
type Focal struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// The accepted values and bounds of ImageSpec's fields.
var (
	CropModes    = []string{"fill", "fit"}
	ImageFormats = []string{"jpeg", "png"}
)

const (
	// MaxImageSide bounds ImageSpec.Width and Height.
	MaxImageSide = 10000
	// MaxImageSpecs bounds how many derivatives one profile may ask for.
	MaxImageSpecs = 50
	// MinJPEGQuality is the lowest quality a JPEG is lowered to when it
	// has to fit ImageSpec.MaxBytes.
	MinJPEGQuality = 30
	// MaxUpscaleLimit bounds ImageSpec.MaxUpscale.
	MaxUpscaleLimit = 4.0
)

var hexColour = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// WithDefaults returns the spec with its unset fields at their documented
// defaults (Name and Background stay as written; see FileName).
func (s ImageSpec) WithDefaults() ImageSpec {
	if s.Crop == "" {
		s.Crop = "fill"
	}
	if s.Format == "" {
		s.Format = "jpeg"
	}
	if s.Quality == 0 && s.Format == "jpeg" {
		s.Quality = 85
	}
	if s.MaxUpscale == 0 {
		s.MaxUpscale = 1
	}
	if s.Source == "" {
		s.Source = s.Role
	}
	return s
}

// FileName is the derivative's name in the package: Name, or
// images/<role> with the format's extension.
func (s ImageSpec) FileName() string {
	if s.Name != "" {
		return s.Name
	}
	if s.WithDefaults().Format == "png" {
		return "images/" + s.Role + ".png"
	}
	return "images/" + s.Role + ".jpg"
}

// imageExts are the file extensions each format's Name may end in.
var imageExts = map[string][]string{"jpeg": {".jpg", ".jpeg"}, "png": {".png"}}

// Validate reports every problem with the spec, each naming its field
// (width: must be 1-10000). Partner.Validate prefixes them with the
// spec's place in the profile.
func (s ImageSpec) Validate() error {
	var errs []error
	bad := func(field, msg string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(msg, args...)))
	}
	if !rolePattern.MatchString(s.Role) {
		bad("role", "%q must be 1-64 lowercase letters, digits, _ or -", s.Role)
	}
	if s.Width < 1 || s.Width > MaxImageSide {
		bad("width", "must be 1-%d", MaxImageSide)
	}
	if s.Height < 1 || s.Height > MaxImageSide {
		bad("height", "must be 1-%d", MaxImageSide)
	}
	if s.Crop != "" && !slices.Contains(CropModes, s.Crop) {
		bad("crop", "%q is not one of %v", s.Crop, CropModes)
	}
	if s.Format != "" && !slices.Contains(ImageFormats, s.Format) {
		bad("format", "%q is not one of %v", s.Format, ImageFormats)
	}
	d := s.WithDefaults()
	switch {
	case s.Quality != 0 && d.Format != "jpeg":
		bad("quality", "only for format jpeg")
	case s.Quality < 0 || s.Quality > 100:
		bad("quality", "must be 1-100")
	}
	if s.MaxBytes < 0 {
		bad("max_bytes", "negative")
	}
	if m := s.MaxUpscale; m != 0 && (math.IsNaN(m) || m < 1 || m > MaxUpscaleLimit) {
		bad("max_upscale", "must be between 1 (never enlarge) and %g", MaxUpscaleLimit)
	}
	if s.Background != "" && !hexColour.MatchString(s.Background) {
		bad("background", "must be a colour written #rrggbb")
	}
	if s.Source != "" && !rolePattern.MatchString(s.Source) {
		bad("source", "%q must be an image role: lowercase letters, digits, _ or -", s.Source)
	}
	if s.Name != "" {
		if err := checkPackageName(s.Name); err != nil {
			bad("name", "%v", err)
		} else if exts := imageExts[d.Format]; exts != nil && !slices.Contains(exts, strings.ToLower(path.Ext(s.Name))) {
			bad("name", "must end in %s for format %s", strings.Join(exts, " or "), d.Format)
		}
	}
	return errors.Join(errs...)
}

// checkPackageName accepts a relative, clean file path inside a package.
func checkPackageName(n string) error {
	switch {
	case len(n) > 255:
		return errors.New("longer than 255 bytes")
	case strings.ContainsFunc(n, unicode.IsControl) || strings.Contains(n, "\\"):
		return errors.New("must not contain control characters or \\")
	case path.IsAbs(n) || path.Clean(n) != n || n == "." || strings.HasPrefix(n, "../"):
		return errors.New("must be a relative, clean path inside the package (no leading /, no .. or //)")
	case n == "manifest.json":
		return errors.New("manifest.json is Syndicate's own")
	}
	return nil
}

// validateImages checks the package's derivatives: each spec, and that no
// two share a role or a file name.
func validateImages(specs []ImageSpec) []error {
	var errs []error
	if len(specs) > MaxImageSpecs {
		errs = append(errs, fmt.Errorf("package.images: at most %d derivatives", MaxImageSpecs))
	}
	roles, names := map[string]int{}, map[string]int{}
	for i, s := range specs {
		at := fmt.Sprintf("package.images[%d]", i)
		for _, err := range unjoinErrs(s.Validate()) {
			errs = append(errs, fmt.Errorf("%s.%w", at, err))
		}
		if s.Role == "" {
			continue
		}
		if j, dup := roles[s.Role]; dup {
			// Its default file name is the other's too: one problem is enough.
			errs = append(errs, fmt.Errorf("%s.role: %q is also package.images[%d]'s role", at, s.Role, j))
			continue
		}
		roles[s.Role] = i
		if j, dup := names[s.FileName()]; dup {
			errs = append(errs, fmt.Errorf("%s.name: %q is also package.images[%d]'s file", at, s.FileName(), j))
		} else {
			names[s.FileName()] = i
		}
	}
	return errs
}

// validate checks a focal point; field is its place, e.g. images[0].focal.
func (f Focal) validate(field string) []error {
	var errs []error
	if !(f.X >= 0 && f.X <= 1) {
		errs = append(errs, fmt.Errorf("%s.x: must be between 0 and 1", field))
	}
	if !(f.Y >= 0 && f.Y <= 1) {
		errs = append(errs, fmt.Errorf("%s.y: must be between 0 and 1", field))
	}
	return errs
}

func unjoinErrs(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
