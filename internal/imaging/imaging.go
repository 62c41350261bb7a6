// Package imaging makes the image derivatives partners ask for
// (domain.ImageSpec): it decodes an asset image (JPEG, PNG or WebP),
// refusing decompression bombs before decoding, resizes it with a
// Catmull-Rom kernel, crops it around the image's focal point (fill) or
// pads it (fit), and encodes it as JPEG or PNG within the partner's byte
// budget. It does no I/O of its own beyond the reader and writer it is
// given, and knows nothing of stores or workflows.
//
// An error that matches ErrInvalid (errors.Is) means the source or the
// spec can never give this derivative — a corrupt, truncated or
// unsupported image, one too large to decode, a source too small for the
// size, a byte budget that cannot be met — so the caller should fail the
// delivery permanently. Any other error (reading the source, writing the
// result) may pass on a retry.
package imaging

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"strconv"
	"strings"

	"golang.org/x/image/draw"
	"golang.org/x/image/webp"

	"github.com/syndicate-media/syndicate/internal/domain"
)

// ErrInvalid is matched by every error that says the derivative cannot
// be made from this source and spec, whatever is retried.
var ErrInvalid = errors.New("imaging: invalid source or spec")

// MaxSourcePixels bounds the images Derive decodes: 64 Mi pixels (8192 ×
// 8192), about 256 MiB once decoded. The size is read from the image's
// header before any pixel is decoded, so a small file that claims to be a
// huge image (a decompression bomb) costs nothing.
const MaxSourcePixels = 64 << 20

// Info describes a derivative Derive wrote.
type Info struct {
	Width, Height int
	// Bytes is the size of the encoded file.
	Bytes int64
	// Quality is the JPEG quality used: the spec's, or lower to fit
	// MaxBytes. 0 for PNG.
	Quality int
	// Format is jpeg or png.
	Format string
}

// Derive reads an image from src, makes the derivative spec describes and
// writes it to dst. focal is the source's focal point (nil: the centre);
// fill crops around it. Nothing is written to dst unless the whole
// derivative was made, so a failure leaves dst empty. Errors matching
// ErrInvalid are permanent (see the package doc); they name the spec's
// role.
func Derive(src io.Reader, spec domain.ImageSpec, focal *domain.Focal, dst io.Writer) (Info, error) {
	return derive(src, spec, focal, dst, MaxSourcePixels)
}

func derive(src io.Reader, spec domain.ImageSpec, focal *domain.Focal, dst io.Writer, maxPixels int) (Info, error) {
	if err := spec.Validate(); err != nil {
		return Info{}, invalid(spec.Role, err, "bad spec: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	if focal != nil && !(focal.X >= 0 && focal.X <= 1 && focal.Y >= 0 && focal.Y <= 1) {
		return Info{}, invalid(spec.Role, nil, "focal point (%g, %g) is outside 0..1", focal.X, focal.Y)
	}
	s := spec.WithDefaults()
	img, err := decode(src, s.Role, maxPixels)
	if err != nil {
		return Info{}, err
	}
	out, err := render(img, s, focal)
	if err != nil {
		return Info{}, err
	}
	data, info, err := encode(out, s)
	if err != nil {
		return Info{}, err
	}
	if _, err := dst.Write(data); err != nil {
		return Info{}, fmt.Errorf("imaging: %s: write: %w", s.Role, err)
	}
	return info, nil
}

// invalidError is an error that matches ErrInvalid.
type invalidError struct {
	msg   string
	cause error
}

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }
func (e *invalidError) Unwrap() error        { return e.cause }

func invalid(role string, cause error, format string, args ...any) error {
	return &invalidError{msg: "imaging: " + role + ": " + fmt.Sprintf(format, args...), cause: cause}
}

// decoders are the formats Derive reads, by the name image.DecodeConfig
// gives them. Only these are decoded, whatever other packages register.
var decoders = map[string]func(io.Reader) (image.Image, error){
	"jpeg": jpeg.Decode,
	"png":  png.Decode,
	"webp": webp.Decode,
}

// decode reads the image's header first and refuses an image of more than
// maxPixels before decoding it.
func decode(src io.Reader, role string, maxPixels int) (image.Image, error) {
	r := &readErr{r: src}
	var head bytes.Buffer
	cfg, format, err := image.DecodeConfig(io.TeeReader(r, &head))
	if r.err != nil {
		return nil, fmt.Errorf("imaging: %s: read source: %w", role, r.err)
	}
	if errors.Is(err, image.ErrFormat) {
		return nil, invalid(role, err, "unsupported image format (want JPEG, PNG or WebP)")
	}
	if err != nil {
		return nil, invalid(role, err, "corrupt or truncated image: %v", err)
	}
	dec, ok := decoders[format]
	if !ok {
		return nil, invalid(role, nil, "unsupported image format %s (want JPEG, PNG or WebP)", format)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, invalid(role, nil, "%s has no pixels (%dx%d)", format, cfg.Width, cfg.Height)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > int64(maxPixels) {
		return nil, invalid(role, nil, "%s of %dx%d is %.1f megapixels, over the %.1f megapixels Syndicate decodes (a decompression bomb or an oversized source)",
			format, cfg.Width, cfg.Height, float64(px)/1e6, float64(maxPixels)/1e6)
	}
	img, err := safeDecode(dec, io.MultiReader(&head, r))
	if r.err != nil {
		return nil, fmt.Errorf("imaging: %s: read source: %w", role, r.err)
	}
	if err != nil {
		return nil, invalid(role, err, "corrupt or truncated %s: %v", format, err)
	}
	if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return nil, invalid(role, nil, "corrupt %s: header says %dx%d, decoded %dx%d", format, cfg.Width, cfg.Height, b.Dx(), b.Dy())
	}
	return img, nil
}

// safeDecode turns a decoder's panic on hostile input into an error.
func safeDecode(dec func(io.Reader) (image.Image, error), r io.Reader) (img image.Image, err error) {
	defer func() {
		if p := recover(); p != nil {
			img, err = nil, fmt.Errorf("decoder panic: %v", p)
		}
	}()
	return dec(r)
}

// readErr remembers the source's own read error (not EOF), so a failing
// source is told apart from a corrupt image: the first may pass on a
// retry, the second never will.
type readErr struct {
	r   io.Reader
	err error
}

func (e *readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// maxUpscaleSlack lets a scale that is the limit but for rounding pass.
const maxUpscaleSlack = 1e-9

// render resizes img to the spec's size, cropping (fill) or padding (fit).
func render(img image.Image, s domain.ImageSpec, focal *domain.Focal) (*image.RGBA, error) {
	b := img.Bounds()
	sw, sh := float64(b.Dx()), float64(b.Dy())
	W, H := float64(s.Width), float64(s.Height)
	scale := math.Max(W/sw, H/sh)
	if s.Crop == "fit" {
		scale = math.Min(W/sw, H/sh)
	}
	if scale > s.MaxUpscale*(1+maxUpscaleSlack) {
		return nil, invalid(s.Role, nil, "the %s source is %dx%d, too small for %dx%d (%s): it would be enlarged %.2fx, more than max_upscale %g",
			s.Source, b.Dx(), b.Dy(), s.Width, s.Height, s.Crop, scale, s.MaxUpscale)
	}
	dst := image.NewRGBA(image.Rect(0, 0, s.Width, s.Height))
	bg, hasBG := background(s)
	if hasBG {
		draw.Draw(dst, dst.Bounds(), image.NewUniform(bg), image.Point{}, draw.Src)
	}
	// Onto a background, a source with transparency is composited over it;
	// without one (PNG), its alpha is kept.
	op := draw.Src
	if hasBG && !opaque(img) {
		op = draw.Over
	}
	sr, dr := b, dst.Bounds()
	if s.Crop == "fit" {
		iw := clamp(int(math.Round(sw*scale)), 1, s.Width)
		ih := clamp(int(math.Round(sh*scale)), 1, s.Height)
		x0, y0 := (s.Width-iw)/2, (s.Height-ih)/2
		dr = image.Rect(x0, y0, x0+iw, y0+ih)
	} else {
		fx, fy := 0.5, 0.5
		if focal != nil {
			fx, fy = focal.X, focal.Y
		}
		cw := clamp(int(math.Round(W/scale)), 1, b.Dx())
		ch := clamp(int(math.Round(H/scale)), 1, b.Dy())
		x0 := clamp(int(math.Round(fx*sw-float64(cw)/2)), 0, b.Dx()-cw)
		y0 := clamp(int(math.Round(fy*sh-float64(ch)/2)), 0, b.Dy()-ch)
		sr = image.Rect(b.Min.X+x0, b.Min.Y+y0, b.Min.X+x0+cw, b.Min.Y+y0+ch)
	}
	// Catmull-Rom at every ratio: ApproxBiLinear is about 13x faster for
	// a 3x downscale but aliases (27 dB PSNR against the exact area
	// average, Catmull-Rom 40 dB; BenchmarkKernel, docs/benchmarks.md),
	// and a derivative is made once per delivery, not per request.
	draw.CatmullRom.Scale(dst, dr, img, sr, op, nil)
	return dst, nil
}

func background(s domain.ImageSpec) (color.RGBA, bool) {
	if s.Background == "" {
		if s.Format == "jpeg" {
			return color.RGBA{A: 0xff}, true // JPEG has no alpha: black
		}
		return color.RGBA{}, false
	}
	v, _ := strconv.ParseUint(s.Background[1:], 16, 32) // checked by Validate
	return color.RGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 0xff}, true
}

func opaque(img image.Image) bool {
	o, ok := img.(interface{ Opaque() bool })
	return ok && o.Opaque()
}

func clamp(v, lo, hi int) int { return max(lo, min(v, hi)) }
