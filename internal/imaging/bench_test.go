package imaging

import (
	"bytes"
	"image"
	"io"
	"math"
	"testing"

	"golang.org/x/image/draw"

	"github.com/syndicate-media/syndicate/internal/domain"
)

// BenchmarkDerive is the whole derivative from a 1920x1080 JPEG (decode,
// resize, crop or pad, encode at quality 85), in images per second.
//
//	go test ./internal/imaging -run '^$' -bench Derive -benchtime 3s -count 3
func BenchmarkDerive(b *testing.B) {
	src := jpegOf(b, photo(1920, 1080))
	for _, spec := range []domain.ImageSpec{
		{Role: "fill-640x360", Width: 640, Height: 360},
		{Role: "fit-1280x720", Width: 1280, Height: 720, Crop: "fit"},
	} {
		b.Run(spec.Role, func(b *testing.B) {
			for b.Loop() {
				if _, err := Derive(bytes.NewReader(src), spec, nil, io.Discard); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// BenchmarkKernel compares resampling kernels on the resize alone, from a
// decoded 1920x1080 JPEG, and reports each one's PSNR against the exact
// 3x3 area average (the alias-free reference for a 3x downscale).
//
//	go test ./internal/imaging -run '^$' -bench Kernel -benchtime 2s -count 3
func BenchmarkKernel(b *testing.B) {
	img, _, err := image.Decode(bytes.NewReader(jpegOf(b, photo(1920, 1080))))
	if err != nil {
		b.Fatal(err)
	}
	ref := areaAverage3(img)
	for _, k := range []struct {
		name string
		q    draw.Interpolator
	}{{"CatmullRom", draw.CatmullRom}, {"BiLinear", draw.BiLinear}, {"ApproxBiLinear", draw.ApproxBiLinear}} {
		for _, size := range []image.Point{{640, 360}, {1280, 720}} {
			b.Run(k.name+"/"+image.Rect(0, 0, size.X, size.Y).Size().String(), func(b *testing.B) {
				dst := image.NewRGBA(image.Rect(0, 0, size.X, size.Y))
				for b.Loop() {
					k.q.Scale(dst, dst.Bounds(), img, img.Bounds(), draw.Src, nil)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
				if size.X == 640 {
					b.ReportMetric(psnr(dst, ref), "PSNR-dB")
				}
			})
		}
	}
}

func areaAverage3(img image.Image) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx()/3, b.Dy()/3))
	for y := range out.Bounds().Dy() {
		for x := range out.Bounds().Dx() {
			var s [3]uint32
			for dy := range 3 {
				for dx := range 3 {
					r, g, bb, _ := img.At(b.Min.X+3*x+dx, b.Min.Y+3*y+dy).RGBA()
					s[0], s[1], s[2] = s[0]+r>>8, s[1]+g>>8, s[2]+bb>>8
				}
			}
			i := out.PixOffset(x, y)
			out.Pix[i], out.Pix[i+1], out.Pix[i+2], out.Pix[i+3] = uint8((s[0]+4)/9), uint8((s[1]+4)/9), uint8((s[2]+4)/9), 255
		}
	}
	return out
}

func psnr(a, b *image.RGBA) float64 {
	var se float64
	n := 0
	for i := range a.Pix {
		if i%4 == 3 {
			continue
		}
		d := float64(a.Pix[i]) - float64(b.Pix[i])
		se += d * d
		n++
	}
	return 10 * math.Log10(255*255/(se/float64(n)))
}
