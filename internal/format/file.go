package format

import (
	"path"
	"strings"
)

// File is one file of the package as a metadata document describes it.
type File struct {
	// Name is the file's path relative to the package folder, e.g.
	// main.mp4 or images/cover.png.
	Name string
	// Role is the catalog role: main, trailer, cover, poster, ...
	Role string
	// Size is the file's length in bytes.
	Size int64
	// MD5 is the file's md5 in lowercase hex; set only for formats that
	// implement ChecksumNeeder and ask for it.
	MD5 string
	// Width and Height are an image's pixel size when the catalog gave it.
	Width, Height int
}

// fileType is what a file's extension says about it.
type fileType struct{ mime, medium string }

// fileTypes is a fixed table rather than mime.TypeByExtension, which reads
// the machine's mime.types: the same package must render the same bytes
// on every machine. Medium uses the Media RSS vocabulary.
var fileTypes = map[string]fileType{
	".mp4": {"video/mp4", "video"}, ".m4v": {"video/x-m4v", "video"}, ".mov": {"video/quicktime", "video"},
	".mxf": {"application/mxf", "video"}, ".ts": {"video/mp2t", "video"}, ".mpg": {"video/mpeg", "video"},
	".mpeg": {"video/mpeg", "video"}, ".webm": {"video/webm", "video"}, ".mkv": {"video/x-matroska", "video"},
	".m4a": {"audio/mp4", "audio"}, ".mp3": {"audio/mpeg", "audio"}, ".wav": {"audio/wav", "audio"},
	".aac": {"audio/aac", "audio"}, ".flac": {"audio/flac", "audio"},
	".png": {"image/png", "image"}, ".jpg": {"image/jpeg", "image"}, ".jpeg": {"image/jpeg", "image"},
	".gif": {"image/gif", "image"}, ".webp": {"image/webp", "image"}, ".tif": {"image/tiff", "image"},
	".tiff": {"image/tiff", "image"},
	".vtt":  {"text/vtt", "document"}, ".srt": {"application/x-subrip", "document"},
	".ttml": {"application/ttml+xml", "document"}, ".scc": {"text/x-scc", "document"},
	".xml": {"application/xml", "document"}, ".pdf": {"application/pdf", "document"},
}

func (f File) kind() fileType { return fileTypes[strings.ToLower(path.Ext(f.Name))] }

// MIMEType is the file's media type from its extension, or
// application/octet-stream when the extension is not known.
func (f File) MIMEType() string {
	if t := f.kind().mime; t != "" {
		return t
	}
	return "application/octet-stream"
}

// Medium is video, audio, image or document from the file's extension,
// or "" when the extension is not known.
func (f File) Medium() string { return f.kind().medium }

// IsImage reports whether the file is artwork.
func (f File) IsImage() bool { return f.Medium() == "image" }

// MainMedia is the index of the package's main media file: role main, else
// the first file that is neither an image nor a trailer, else -1.
func MainMedia(files []File) int {
	first := -1
	for i, f := range files {
		if f.IsImage() || f.Role == "trailer" {
			continue
		}
		if f.Role == "main" {
			return i
		}
		if first < 0 {
			first = i
		}
	}
	return first
}
