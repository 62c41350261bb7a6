package imaging

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"

	"github.com/syndicate-media/syndicate/internal/domain"
)

// encode writes img in the spec's format, within MaxBytes when set.
func encode(img *image.RGBA, s domain.ImageSpec) ([]byte, Info, error) {
	info := Info{Width: s.Width, Height: s.Height, Format: s.Format}
	var data []byte
	var err error
	if s.Format == "png" {
		data, err = encodePNG(img, s)
	} else {
		data, info.Quality, err = encodeJPEG(img, s)
	}
	info.Bytes = int64(len(data))
	return data, info, err
}

// encodeJPEG encodes at the spec's quality and, if that is over MaxBytes,
// finds the highest quality down to domain.MinJPEGQuality that fits, by
// binary search: a JPEG's size grows with its quality, so about log2(55)
// ≈ 6 encodes find it where stepping down one at a time could take 55.
func encodeJPEG(img *image.RGBA, s domain.ImageSpec) ([]byte, int, error) {
	enc := func(q int) ([]byte, error) {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
			return nil, fmt.Errorf("imaging: %s: encode jpeg: %w", s.Role, err)
		}
		return buf.Bytes(), nil
	}
	best, err := enc(s.Quality)
	if err != nil || s.MaxBytes == 0 || int64(len(best)) <= s.MaxBytes {
		return best, s.Quality, err
	}
	floor := min(domain.MinJPEGQuality, s.Quality)
	lo, hi, q := floor, s.Quality-1, 0
	atMin := len(best) // when nothing fits, the search ends by trying floor
	for lo <= hi {
		mid := (lo + hi) / 2
		data, err := enc(mid)
		if err != nil {
			return nil, 0, err
		}
		if mid == floor {
			atMin = len(data)
		}
		if int64(len(data)) <= s.MaxBytes {
			best, q, lo = data, mid, mid+1
		} else {
			hi = mid - 1
		}
	}
	if q == 0 {
		return nil, 0, invalid(s.Role, nil, "a %dx%d JPEG does not fit max_bytes %d: %d bytes at quality %d, the lowest Syndicate uses",
			s.Width, s.Height, s.MaxBytes, atMin, floor)
	}
	return best, q, nil
}

// encodePNG encodes with the default compression and, if that is over
// MaxBytes, once more with the best.
func encodePNG(img *image.RGBA, s domain.ImageSpec) ([]byte, error) {
	enc := func(level png.CompressionLevel) ([]byte, error) {
		var buf bytes.Buffer
		e := png.Encoder{CompressionLevel: level}
		if err := e.Encode(&buf, img); err != nil {
			return nil, fmt.Errorf("imaging: %s: encode png: %w", s.Role, err)
		}
		return buf.Bytes(), nil
	}
	data, err := enc(png.DefaultCompression)
	if err != nil || s.MaxBytes == 0 || int64(len(data)) <= s.MaxBytes {
		return data, err
	}
	if data, err = enc(png.BestCompression); err != nil || int64(len(data)) <= s.MaxBytes {
		return data, err
	}
	return nil, invalid(s.Role, nil, "a %dx%d PNG does not fit max_bytes %d: %d bytes at the best compression (a smaller size or format jpeg would)",
		s.Width, s.Height, s.MaxBytes, len(data))
}
