package imaging

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/syndicate-media/syndicate/internal/domain"
)

func TestDeriveSizesAndFormats(t *testing.T) {
	src := jpegOf(t, photo(1920, 1080))
	srcPNG := pngOf(t, scene(900, 1200, image.Rect(400, 500, 500, 600)))
	webp, err := os.ReadFile("testdata/blue-purple-pink.lossy.webp")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		src  []byte
		spec domain.ImageSpec
	}{
		{"jpeg fill", src, domain.ImageSpec{Role: "cover_small", Width: 640, Height: 360}},
		{"jpeg fit png", src, domain.ImageSpec{Role: "cover_png", Width: 1280, Height: 720, Crop: "fit", Format: "png"}},
		{"jpeg fit square", src, domain.ImageSpec{Role: "square", Width: 400, Height: 400, Crop: "fit", Quality: 70}},
		{"png fill portrait", srcPNG, domain.ImageSpec{Role: "poster", Width: 300, Height: 500, Format: "png"}},
		{"png to jpeg", srcPNG, domain.ImageSpec{Role: "poster_jpg", Width: 600, Height: 800}},
		{"webp", webp, domain.ImageSpec{Role: "thumb", Width: 100, Height: 100}},
		{"one pixel", src, domain.ImageSpec{Role: "dot", Width: 1, Height: 1}},
		{"same size", src, domain.ImageSpec{Role: "full", Width: 1920, Height: 1080}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			info, err := Derive(bytes.NewReader(c.src), c.spec, nil, &out)
			if err != nil {
				t.Fatal(err)
			}
			s := c.spec.WithDefaults()
			decodeOut(t, out.Bytes(), s.Format, s.Width, s.Height)
			want := Info{Width: s.Width, Height: s.Height, Bytes: int64(out.Len()), Quality: s.Quality, Format: s.Format}
			if info != want {
				t.Fatalf("info %+v, want %+v", info, want)
			}
		})
	}
}

func TestFocalPointCrop(t *testing.T) {
	// A red square centred at (1344, 540), x = 0.7 of the width; a square
	// crop of a 16:9 source keeps 1080 of its 1920 columns.
	src := jpegOf(t, scene(1920, 1080, image.Rect(1244, 440, 1444, 640)))
	spec := domain.ImageSpec{Role: "square", Width: 400, Height: 400, Format: "png"}
	derive := func(f *domain.Focal) image.Image {
		t.Helper()
		var out bytes.Buffer
		if _, err := Derive(bytes.NewReader(src), spec, f, &out); err != nil {
			t.Fatal(err)
		}
		return decodeOut(t, out.Bytes(), "png", 400, 400)
	}
	if c := derive(&domain.Focal{X: 0.7, Y: 0.5}).At(200, 200); !near(c, red, 12) {
		t.Errorf("focal crop: centre is %v, want the red mark", c)
	}
	if c := derive(nil).At(200, 200); near(c, red, 60) {
		t.Errorf("centre crop: centre is %v, the mark (off centre) should not be there", c)
	}
	// Near the edge the window stops at the border: the mark is still in,
	// where the border puts it: (1344-840) × 400/1080 ≈ 187.
	img := derive(&domain.Focal{X: 0.99, Y: 0.5})
	if c := img.At(187, 200); !near(c, red, 12) {
		t.Errorf("focal crop at the edge: (187,200) is %v, want the red mark", c)
	}
	if c := img.At(399, 200); near(c, red, 60) {
		t.Errorf("focal crop at the edge: right edge is %v, want the background", c)
	}

	// Vertically: a portrait source, the mark at y = 0.35 (672 of 1920).
	src = jpegOf(t, scene(1080, 1920, image.Rect(490, 622, 590, 722)))
	if c := derive(&domain.Focal{X: 0.5, Y: 0.35}).At(200, 200); !near(c, red, 12) {
		t.Errorf("vertical focal crop: centre is %v, want the red mark", c)
	}
}

func TestFitPadsWithBackground(t *testing.T) {
	src := jpegOf(t, scene(1920, 1080, image.Rect(860, 440, 1060, 640)))
	var out bytes.Buffer
	spec := domain.ImageSpec{Role: "box", Width: 400, Height: 400, Crop: "fit", Background: "#00ff00"}
	if _, err := Derive(bytes.NewReader(src), spec, nil, &out); err != nil {
		t.Fatal(err)
	}
	img := decodeOut(t, out.Bytes(), "jpeg", 400, 400)
	// 1920x1080 fits as 400x225, padded by 87-88 rows above and below.
	if c := img.At(200, 20); !near(c, green, 12) {
		t.Errorf("padding is %v, want the background", c)
	}
	if c := img.At(200, 380); !near(c, green, 12) {
		t.Errorf("bottom padding is %v, want the background", c)
	}
	if c := img.At(200, 200); !near(c, red, 20) {
		t.Errorf("centre is %v, want the red mark", c)
	}

	// PNG without a background: the padding is transparent.
	out.Reset()
	spec = domain.ImageSpec{Role: "box", Width: 400, Height: 400, Crop: "fit", Format: "png"}
	if _, err := Derive(bytes.NewReader(src), spec, nil, &out); err != nil {
		t.Fatal(err)
	}
	img = decodeOut(t, out.Bytes(), "png", 400, 400)
	if _, _, _, a := img.At(200, 20).RGBA(); a != 0 {
		t.Errorf("png padding alpha %d, want transparent", a)
	}
	if _, _, _, a := img.At(200, 200).RGBA(); a != 0xffff {
		t.Errorf("png image alpha %d, want opaque", a)
	}
}

func TestTransparencyOnJPEG(t *testing.T) {
	// A title-art PNG: transparent but for a red square in the middle.
	img := image.NewNRGBA(image.Rect(0, 0, 400, 400))
	for y := 150; y < 250; y++ {
		for x := 150; x < 250; x++ {
			img.Set(x, y, red)
		}
	}
	var out bytes.Buffer
	spec := domain.ImageSpec{Role: "title", Width: 200, Height: 200, Background: "#ffffff"}
	if _, err := Derive(bytes.NewReader(pngOf(t, img)), spec, nil, &out); err != nil {
		t.Fatal(err)
	}
	got := decodeOut(t, out.Bytes(), "jpeg", 200, 200)
	if c := got.At(10, 10); !near(c, color.RGBA{255, 255, 255, 255}, 8) {
		t.Errorf("transparent area is %v, want the white background", c)
	}
	if c := got.At(100, 100); !near(c, red, 20) {
		t.Errorf("opaque area is %v, want red", c)
	}
}

func TestUpscale(t *testing.T) {
	src := jpegOf(t, photo(640, 360))
	var out bytes.Buffer
	_, err := Derive(bytes.NewReader(src), domain.ImageSpec{Role: "cover_hd", Source: "cover", Width: 1280, Height: 720}, nil, &out)
	if !errors.Is(err, ErrInvalid) || out.Len() != 0 {
		t.Fatalf("2x upscale with the default max_upscale: err %v, wrote %d bytes", err, out.Len())
	}
	for _, want := range []string{"cover_hd", "cover source is 640x360", "too small for 1280x720", "2.00x", "max_upscale 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	_, err = Derive(bytes.NewReader(src), domain.ImageSpec{Role: "box", Width: 1000, Height: 1000, Crop: "fit", MaxUpscale: 1.5}, nil, &out)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "1.56x, more than max_upscale 1.5") {
		t.Fatalf("fit 1.56x with max_upscale 1.5: %v", err)
	}
	info, err := Derive(bytes.NewReader(src), domain.ImageSpec{Role: "cover_hd", Width: 1280, Height: 720, MaxUpscale: 2}, nil, &out)
	if err != nil || info.Width != 1280 {
		t.Fatalf("2x upscale with max_upscale 2: %+v %v", info, err)
	}
}

func TestJPEGMaxBytes(t *testing.T) {
	src := pngOf(t, noise(640, 360))
	spec := domain.ImageSpec{Role: "thumb", Width: 320, Height: 180}
	var out bytes.Buffer
	full, err := Derive(bytes.NewReader(src), spec, nil, &out)
	if err != nil || full.Quality != 85 {
		t.Fatalf("no limit: %+v %v", full, err)
	}
	spec.MaxBytes = full.Bytes * 2 / 3
	out.Reset()
	info, err := Derive(bytes.NewReader(src), spec, nil, &out)
	if err != nil {
		t.Fatal(err)
	}
	if info.Bytes > spec.MaxBytes || int64(out.Len()) != info.Bytes || info.Quality >= 85 || info.Quality < domain.MinJPEGQuality {
		t.Fatalf("max_bytes %d: %+v, wrote %d", spec.MaxBytes, info, out.Len())
	}
	decodeOut(t, out.Bytes(), "jpeg", 320, 180)
	// The search found the best quality that fits: one more does not.
	next := spec
	next.Quality, next.MaxBytes = info.Quality+1, 0
	if up, err := Derive(bytes.NewReader(src), next, nil, io.Discard); err != nil || up.Bytes <= spec.MaxBytes {
		t.Fatalf("quality %d also fits (%d bytes <= %d): the search stopped short; %v", next.Quality, up.Bytes, spec.MaxBytes, err)
	}

	spec.MaxBytes = 2000
	out.Reset()
	_, err = Derive(bytes.NewReader(src), spec, nil, &out)
	if !errors.Is(err, ErrInvalid) || out.Len() != 0 || !strings.Contains(err.Error(), "thumb: a 320x180 JPEG does not fit max_bytes 2000") ||
		!strings.Contains(err.Error(), "at quality 30, the lowest") {
		t.Fatalf("impossible max_bytes: %v (wrote %d)", err, out.Len())
	}
}

func TestPNGMaxBytes(t *testing.T) {
	var out bytes.Buffer
	spec := domain.ImageSpec{Role: "logo", Width: 256, Height: 256, Format: "png", MaxBytes: 50_000}
	_, err := Derive(bytes.NewReader(pngOf(t, noise(256, 256))), spec, nil, &out)
	if !errors.Is(err, ErrInvalid) || out.Len() != 0 || !strings.Contains(err.Error(), "logo: a 256x256 PNG does not fit max_bytes 50000") ||
		!strings.Contains(err.Error(), "best compression") {
		t.Fatalf("noise PNG over max_bytes: %v", err)
	}
	info, err := Derive(bytes.NewReader(pngOf(t, scene(256, 256, image.Rect(0, 0, 10, 10)))), spec, nil, &out)
	if err != nil || info.Bytes > spec.MaxBytes || info.Quality != 0 {
		t.Fatalf("smooth PNG within max_bytes: %+v %v", info, err)
	}
}

func TestBadSources(t *testing.T) {
	good := jpegOf(t, photo(320, 240))
	goodPNG := pngOf(t, photo(320, 240))
	var gifData bytes.Buffer
	if err := gif.Encode(&gifData, photo(32, 32), nil); err != nil {
		t.Fatal(err)
	}
	badCRC := bytes.Clone(goodPNG)
	badCRC[len(badCRC)/2] ^= 0xff
	spec := domain.ImageSpec{Role: "cover", Width: 100, Height: 100}
	cases := []struct {
		name string
		src  []byte
		want string
	}{
		{"empty", nil, "cover: unsupported image format"},
		{"text", []byte("<html>not an image</html>"), "cover: unsupported image format"},
		{"gif", gifData.Bytes(), "cover: unsupported image format gif"},
		{"truncated jpeg", good[:len(good)/2], "cover: corrupt or truncated jpeg"},
		{"truncated png", goodPNG[:len(goodPNG)/2], "cover: corrupt or truncated png"},
		{"png header only", goodPNG[:40], "cover: corrupt or truncated png"},
		{"corrupt png", badCRC, "cover: corrupt or truncated png"},
		{"jpeg header only", good[:20], "cover: corrupt or truncated image"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			_, err := Derive(bytes.NewReader(c.src), spec, nil, &out)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want ErrInvalid saying %q", err, c.want)
			}
			if out.Len() != 0 {
				t.Fatalf("wrote %d bytes on failure", out.Len())
			}
		})
	}
}

func TestBadSpecs(t *testing.T) {
	src := jpegOf(t, photo(320, 240))
	for _, c := range []struct {
		spec  domain.ImageSpec
		focal *domain.Focal
		want  string
	}{
		{domain.ImageSpec{Role: "cover", Width: 0, Height: 100}, nil, "cover: bad spec: width: must be 1-10000"},
		{domain.ImageSpec{Role: "cover", Crop: "zoom"}, nil, `cover: bad spec: width: must be 1-10000; height: must be 1-10000; crop: "zoom" is not one of [fill fit]`},
		{domain.ImageSpec{Role: "cover", Width: 10, Height: 10, Format: "gif"}, nil, `cover: bad spec: format: "gif" is not one of`},
		{domain.ImageSpec{Role: "cover", Width: 10, Height: 10}, &domain.Focal{X: 2}, "cover: focal point (2, 0) is outside 0..1"},
	} {
		_, err := Derive(bytes.NewReader(src), c.spec, c.focal, io.Discard)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want %q", c.spec, err, c.want)
		}
	}
}

// countingReader counts what the decoder read.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestDecompressionBomb(t *testing.T) {
	// A PNG that claims 100000x100000 pixels (40 GB decoded) in a few
	// bytes; then the same claim followed by a megabyte of "pixel data",
	// which must not be read.
	var bomb bytes.Buffer
	bomb.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], 100000)
	binary.BigEndian.PutUint32(ihdr[4:], 100000)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	chunk := func(kind string, data []byte) {
		binary.Write(&bomb, binary.BigEndian, uint32(len(data)))
		bomb.WriteString(kind)
		bomb.Write(data)
		binary.Write(&bomb, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(kind), data...)))
	}
	chunk("IHDR", ihdr)
	chunk("IDAT", make([]byte, 1<<20))

	// A JPEG whose frame header says 60000x60000.
	jbomb := jpegOf(t, photo(16, 16))
	sof := bytes.Index(jbomb, []byte{0xff, 0xc0})
	binary.BigEndian.PutUint16(jbomb[sof+5:], 60000)
	binary.BigEndian.PutUint16(jbomb[sof+7:], 60000)

	for name, data := range map[string][]byte{"png": bomb.Bytes(), "jpeg": jbomb} {
		r := &countingReader{r: bytes.NewReader(data)}
		_, err := Derive(r, domain.ImageSpec{Role: "cover", Width: 100, Height: 100}, nil, io.Discard)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "decompression bomb") {
			t.Fatalf("%s bomb: %v", name, err)
		}
		if r.n > 64<<10 {
			t.Errorf("%s bomb: read %d bytes before refusing", name, r.n)
		}
	}
	// Just under the limit is decoded.
	_, err := derive(bytes.NewReader(pngOf(t, photo(100, 100))), domain.ImageSpec{Role: "c", Width: 10, Height: 10}, nil, io.Discard, 100*100)
	if err != nil {
		t.Fatalf("an image of exactly the limit: %v", err)
	}
	_, err = derive(bytes.NewReader(pngOf(t, photo(100, 101))), domain.ImageSpec{Role: "c", Width: 10, Height: 10}, nil, io.Discard, 100*100)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("one row over the limit: %v", err)
	}
}

// failingReader returns data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestIOErrorsAreNotInvalid(t *testing.T) {
	src := jpegOf(t, photo(320, 240))
	spec := domain.ImageSpec{Role: "cover", Width: 100, Height: 100}
	cut := errors.New("connection reset")
	for _, n := range []int{0, 100, len(src) / 2} {
		_, err := Derive(&failingReader{data: src[:n], err: cut}, spec, nil, io.Discard)
		if !errors.Is(err, cut) || errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "cover: read source") {
			t.Errorf("source failing after %d bytes: %v, want the read error, not ErrInvalid", n, err)
		}
	}
	_, err := Derive(bytes.NewReader(src), spec, nil, failingWriter{})
	if err == nil || errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "cover: write: disk full") {
		t.Errorf("failing writer: %v", err)
	}
}
