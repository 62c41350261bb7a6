package imaging

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"testing"
)

var (
	red   = color.RGBA{R: 230, G: 20, B: 30, A: 255}
	green = color.RGBA{G: 255, A: 255}
)

// scene is a w×h image: a smooth blue-grey gradient with, when mark is
// not empty, a red square at mark: the region a focal point must keep.
func scene(w, h int, mark image.Rectangle) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, color.RGBA{R: uint8(40 + 60*x/w), G: uint8(60 + 80*y/h), B: 160, A: 255})
		}
	}
	draw.Draw(img, mark, image.NewUniform(red), image.Point{}, draw.Src)
	return img
}

// photo is a w×h image with what makes photographs expensive to resize
// and encode: gradients, edges and grain.
func photo(w, h int) *image.RGBA {
	img := scene(w, h, image.Rectangle{})
	rng := rand.New(rand.NewPCG(1, 2))
	for y := range h {
		for x := range w {
			c := img.RGBAAt(x, y)
			if (x/37+y/23)%5 == 0 { // hard-edged shapes
				c.R, c.G = 220, 200
			}
			n := uint8(rng.IntN(24))
			img.SetRGBA(x, y, color.RGBA{R: c.R + n, G: c.G + n, B: c.B - n, A: 255})
		}
	}
	return img
}

// noise is incompressible: every encoder's worst case.
func noise(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.Uint32())
	}
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = 255
	}
	return img
}

func jpegOf(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 92}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func pngOf(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// decodeOut decodes a derivative and checks its format and size.
func decodeOut(t *testing.T, data []byte, format string, w, h int) image.Image {
	t.Helper()
	img, got, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("derivative does not decode: %v", err)
	}
	if got != format || img.Bounds().Dx() != w || img.Bounds().Dy() != h {
		t.Fatalf("derivative is a %dx%d %s, want %dx%d %s", img.Bounds().Dx(), img.Bounds().Dy(), got, w, h, format)
	}
	return img
}

// near reports whether c is within tol of want in every channel.
func near(c color.Color, want color.RGBA, tol int) bool {
	r, g, b, a := c.RGBA()
	d := func(x uint32, y uint8) bool { v := int(x>>8) - int(y); return v <= tol && v >= -tol }
	return d(r, want.R) && d(g, want.G) && d(b, want.B) && d(a, want.A)
}
