package demo

import (
	"crypto/rand"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"

	"github.com/syndicate-media/syndicate/internal/domain"
)

// sampleCatalog writes n assets' files under dir: a media file of
// mediaBytes random bytes (stands in for a rendition; no encoder needed)
// and two real PNG artworks at the sizes partners ask for.
func sampleCatalog(dir string, n, mediaBytes int) ([]domain.Asset, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	titles := []string{"The Lighthouse Keeper", "Harbour Lights", "North Sea Crossing", "Evening News", "Tidewater"}
	var out []domain.Asset
	for i := range n {
		id := fmt.Sprintf("ep-%03d", 101+i)
		media := filepath.Join(dir, id+".mp4")
		if err := writeRandom(media, mediaBytes); err != nil {
			return nil, err
		}
		cover := filepath.Join(dir, id+"-cover.png")
		poster := filepath.Join(dir, id+"-poster.png")
		if err := writePNG(cover, 1920, 1080, i); err != nil {
			return nil, err
		}
		if err := writePNG(poster, 1000, 1500, i+1); err != nil {
			return nil, err
		}
		out = append(out, domain.Asset{
			ID: id, Type: "episode", Title: titles[i%len(titles)],
			Metadata: map[string]any{"series": "Coastline", "season": 1, "episode": i + 1, "territories": []string{"GB", "IE"}},
			Media:    []domain.MediaFile{{Role: "main", URI: "file://" + media, Size: int64(mediaBytes)}},
			Images: []domain.Image{
				{Role: "cover", URI: "file://" + cover, Width: 1920, Height: 1080},
				{Role: "poster", URI: "file://" + poster, Width: 1000, Height: 1500},
			},
		})
	}
	return out, nil
}

func writeRandom(path string, n int) error {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return os.WriteFile(path, b, 0o644)
}

// writePNG draws a simple gradient so the artwork is a real image.
func writePNG(path string, w, h, seed int) error {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8(seed * 60), 255})
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
