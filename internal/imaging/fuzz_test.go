package imaging

import (
	"bytes"
	"errors"
	"image"
	"os"
	"testing"

	"github.com/syndicate-media/syndicate/internal/domain"
)

// FuzzDerive feeds Derive arbitrary bytes as the source image. Decoding is
// bounded (64 Ki pixels here, so the fuzzer does not spend its time on big
// but valid images): whatever the input, Derive must not panic, and either
// refuse it with ErrInvalid or write a decodable image of the spec's size.
//
//	go test ./internal/imaging -run '^$' -fuzz FuzzDerive -fuzztime 60s
func FuzzDerive(f *testing.F) {
	small := photo(40, 30)
	f.Add(jpegOf(f, small), uint8(0))
	f.Add(pngOf(f, small), uint8(1))
	f.Add(pngOf(f, image.NewNRGBA(image.Rect(0, 0, 3, 5))), uint8(2))
	if webp, err := os.ReadFile("testdata/blue-purple-pink.lossy.webp"); err == nil {
		f.Add(webp, uint8(3))
	}
	j := jpegOf(f, small)
	f.Add(j[:len(j)/2], uint8(0))
	f.Add([]byte("\x89PNG\r\n\x1a\n"), uint8(1))
	f.Add([]byte("RIFF\x00\x00\x00\x00WEBPVP8 "), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		if len(data) > 1<<20 {
			t.Skip("over 1 MiB: the header check is what matters for big inputs, and TestDecompressionBomb covers it")
		}
		spec := domain.ImageSpec{Role: "fuzz", Width: 16, Height: 9, Crop: []string{"fill", "fit"}[mode&1],
			Format: []string{"jpeg", "png"}[mode>>1&1]}
		var out bytes.Buffer
		info, err := derive(bytes.NewReader(data), spec, &domain.Focal{X: 0.3, Y: 0.6}, &out, 1<<16)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error that is not ErrInvalid from an in-memory source: %v", err)
			}
			if out.Len() != 0 {
				t.Fatalf("wrote %d bytes, then failed", out.Len())
			}
			return
		}
		img, format, err := image.Decode(&out)
		if err != nil || format != spec.Format || img.Bounds().Dx() != 16 || img.Bounds().Dy() != 9 || info.Width != 16 {
			t.Fatalf("accepted source gave %s %v %v (%+v)", format, img.Bounds(), err, info)
		}
	})
}
