package domain

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestImageSpecsValidate(t *testing.T) {
	ok := ImageSpec{Role: "cover_small", Width: 640, Height: 360}
	p := validPartner()
	p.Package.Images = []ImageSpec{ok,
		{Role: "poster", Name: "art/poster.PNG", Width: 1000, Height: 1500, Crop: "fit", Format: "png",
			MaxBytes: 1 << 20, MaxUpscale: 1.5, Background: "#1a2B3c", Source: "key_art"}}
	p.Package.Subtitles = "webvtt"
	if err := p.Validate(); err != nil {
		t.Fatalf("valid specs: %v", err)
	}
	cases := map[string]struct {
		spec ImageSpec
		want string
	}{
		"no role":       {ImageSpec{Width: 1, Height: 1}, `package.images[1].role: "" must be`},
		"zero width":    {ImageSpec{Role: "x", Height: 1}, "package.images[1].width: must be 1-10000"},
		"huge height":   {ImageSpec{Role: "x", Width: 1, Height: 10001}, "package.images[1].height: must be 1-10000"},
		"crop":          {ImageSpec{Role: "x", Width: 1, Height: 1, Crop: "stretch"}, `package.images[1].crop: "stretch" is not one of [fill fit]`},
		"format":        {ImageSpec{Role: "x", Width: 1, Height: 1, Format: "gif"}, `package.images[1].format: "gif" is not one of [jpeg png]`},
		"quality":       {ImageSpec{Role: "x", Width: 1, Height: 1, Quality: 101}, "package.images[1].quality: must be 1-100"},
		"png quality":   {ImageSpec{Role: "x", Width: 1, Height: 1, Format: "png", Quality: 80}, "package.images[1].quality: only for format jpeg"},
		"max bytes":     {ImageSpec{Role: "x", Width: 1, Height: 1, MaxBytes: -1}, "package.images[1].max_bytes: negative"},
		"upscale low":   {ImageSpec{Role: "x", Width: 1, Height: 1, MaxUpscale: 0.5}, "package.images[1].max_upscale: must be between 1"},
		"upscale high":  {ImageSpec{Role: "x", Width: 1, Height: 1, MaxUpscale: 5}, "package.images[1].max_upscale: must be between 1"},
		"upscale NaN":   {ImageSpec{Role: "x", Width: 1, Height: 1, MaxUpscale: math.NaN()}, "package.images[1].max_upscale"},
		"background":    {ImageSpec{Role: "x", Width: 1, Height: 1, Background: "red"}, "package.images[1].background: must be a colour written #rrggbb"},
		"source":        {ImageSpec{Role: "x", Width: 1, Height: 1, Source: "Key Art"}, "package.images[1].source:"},
		"name abs":      {ImageSpec{Role: "x", Width: 1, Height: 1, Name: "/etc/x.jpg"}, "package.images[1].name: must be a relative, clean path"},
		"name dotdot":   {ImageSpec{Role: "x", Width: 1, Height: 1, Name: "../x.jpg"}, "package.images[1].name: must be a relative"},
		"name manifest": {ImageSpec{Role: "x", Width: 1, Height: 1, Name: "manifest.json"}, "package.images[1].name: manifest.json"},
		"name ext":      {ImageSpec{Role: "x", Width: 1, Height: 1, Name: "x.png"}, "package.images[1].name: must end in .jpg or .jpeg for format jpeg"},
		"dup role":      {ImageSpec{Role: "cover_small", Width: 1, Height: 1, Format: "png"}, `package.images[1].role: "cover_small" is also package.images[0]'s role`},
		"dup name":      {ImageSpec{Role: "other", Name: "images/cover_small.jpg", Width: 1, Height: 1}, `package.images[1].name: "images/cover_small.jpg" is also package.images[0]'s file`},
	}
	for name, c := range cases {
		p := validPartner()
		p.Package.Images = []ImageSpec{ok, c.spec}
		err := p.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", name, err, c.want)
		}
	}
	p = validPartner()
	p.Package.Images = make([]ImageSpec, MaxImageSpecs+1)
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "package.images: at most 50") {
		t.Errorf("too many specs: %v", err)
	}
	p = validPartner()
	p.Package.Subtitles = "ass"
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), `package.subtitles: "ass" is not one of [webvtt srt]`) {
		t.Errorf("bad subtitles: %v", err)
	}
}

func TestImageSpecDefaults(t *testing.T) {
	d := ImageSpec{Role: "cover", Width: 10, Height: 10}.WithDefaults()
	if d.Crop != "fill" || d.Format != "jpeg" || d.Quality != 85 || d.MaxUpscale != 1 || d.Source != "cover" || d.Background != "" {
		t.Fatalf("defaults: %+v", d)
	}
	if d := (ImageSpec{Role: "t", Format: "png"}).WithDefaults(); d.Quality != 0 {
		t.Fatalf("png got a quality: %+v", d)
	}
	for spec, want := range map[ImageSpec]string{
		{Role: "cover"}:                                "images/cover.jpg",
		{Role: "cover", Format: "png"}:                 "images/cover.png",
		{Role: "cover", Name: "art/c.jpeg"}:            "art/c.jpeg",
		{Role: "cover", Format: "jpeg", Name: "c.jpg"}: "c.jpg",
	} {
		if got := spec.FileName(); got != want {
			t.Errorf("%+v.FileName() = %q, want %q", spec, got, want)
		}
	}
}

func TestFocalValidate(t *testing.T) {
	a := validAsset()
	a.Images[0].Focal = &Focal{X: 0, Y: 1}
	if err := a.Validate(); err != nil {
		t.Fatalf("focal on the edge: %v", err)
	}
	a.Images[0].Focal = &Focal{X: 1.2, Y: math.NaN()}
	err := a.Validate()
	if err == nil || !strings.Contains(err.Error(), "images[0].focal.x: must be between 0 and 1") ||
		!strings.Contains(err.Error(), "images[0].focal.y: must be between 0 and 1") {
		t.Fatalf("bad focal: %v", err)
	}
	// An image without a focal point serialises as before, so existing
	// assets keep their content hash.
	b, err := json.Marshal(validAsset())
	if err != nil || strings.Contains(string(b), "focal") {
		t.Fatalf("asset without focal: %s %v", b, err)
	}
}
