// Package subtitle checks subtitle files and converts them to the format a
// partner takes (domain.Package.Subtitles): SRT and WebVTT pass through
// byte for byte when no conversion is asked for, SRT converts to WebVTT
// and WebVTT to SRT. The SRT reader takes what real files hold (a byte
// order mark, UTF-16, CRLF or CR line ends, no blank line at the end or
// between cues, cue numbers or none, '.' or ',' before the milliseconds)
// and refuses anything else with the line it stopped at. The WebVTT
// writer follows the W3C WebVTT syntax: a WEBVTT header, hh:mm:ss.ttt
// timings, escaped text, the basic tags kept (b, i, u).
//
// An error that matches ErrInvalid (errors.Is) means the file can never be
// converted: the caller should fail the delivery permanently. Errors
// reading the source or writing the result do not match it.
package subtitle

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Format is a subtitle format, named as in domain.Package.Subtitles.
type Format string

// The formats this package reads and writes.
const (
	SRT    Format = "srt"
	WebVTT Format = "webvtt"
)

// Ext is the format's usual file extension: .srt or .vtt.
func (f Format) Ext() string {
	if f == WebVTT {
		return ".vtt"
	}
	return "." + string(f)
}

// ErrInvalid is matched by every error about the file's content.
var ErrInvalid = errors.New("subtitle: invalid file")

// MaxSize bounds the files read: a feature film's subtitles are well
// under 1 MiB.
const MaxSize = 8 << 20

// Convert reads a subtitle file from src, checks it and writes it to dst
// in the format to. When to is empty or the file's own format, the file is
// written unchanged, byte for byte; otherwise it is converted (UTF-8, LF
// line ends). It returns the format the file was in. Nothing is written
// to dst unless the whole file was read and checked.
func Convert(dst io.Writer, src io.Reader, to Format) (from Format, err error) {
	if to != "" && to != SRT && to != WebVTT {
		return "", fmt.Errorf("%w: unknown target format %q (have srt, webvtt)", ErrInvalid, to)
	}
	raw, err := io.ReadAll(io.LimitReader(src, MaxSize+1))
	if err != nil {
		return "", fmt.Errorf("subtitle: read: %w", err)
	}
	if len(raw) > MaxSize {
		return "", fmt.Errorf("%w: larger than %d MiB", ErrInvalid, MaxSize>>20)
	}
	from, cues, err := Parse(raw)
	if err != nil {
		return "", err
	}
	out := raw
	switch {
	case to == "" || to == from:
	case to == WebVTT:
		out = writeVTT(cues)
	default:
		out = writeSRT(cues)
	}
	if _, err := dst.Write(out); err != nil {
		return "", fmt.Errorf("subtitle: write: %w", err)
	}
	return from, nil
}

// Cue is one timed piece of text.
type Cue struct {
	// ID is the SRT cue number or the WebVTT cue identifier, if any.
	ID         string
	Start, End time.Duration
	// Settings are WebVTT cue settings (line:0 align:start …); empty for
	// SRT.
	Settings string
	// Text is the cue's lines in the source format's markup.
	Text []string
	// Line is where the cue's timing is in the file (1-based).
	Line int
}

// Parse reads a subtitle file, detecting its format from its content
// (WEBVTT header or not), and returns its cues. Errors match ErrInvalid
// and name the line.
func Parse(data []byte) (Format, []Cue, error) {
	lines, err := textLines(data)
	if err != nil {
		return "", nil, err
	}
	if isVTTHeader(lines[0]) {
		cues, err := parseVTT(lines)
		return WebVTT, cues, err
	}
	cues, err := parseSRT(lines)
	return SRT, cues, err
}

// lineError is a problem at a line of the file.
func lineError(line int, format string, args ...any) error {
	return fmt.Errorf("%w: line %d: %s", ErrInvalid, line, fmt.Sprintf(format, args...))
}

// textLines decodes the file (UTF-8, or UTF-16 with a byte order mark),
// drops a byte order mark and splits it at LF, CRLF or CR.
func textLines(data []byte) ([]string, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0xef, 0xbb, 0xbf}):
		data = data[3:]
	case bytes.HasPrefix(data, []byte{0xff, 0xfe}), bytes.HasPrefix(data, []byte{0xfe, 0xff}):
		var err error
		if data, err = fromUTF16(data); err != nil {
			return nil, err
		}
	}
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	lines := strings.Split(strings.ReplaceAll(text, "\r", "\n"), "\n")
	for i, l := range lines {
		if !utf8.ValidString(l) {
			return nil, lineError(i+1, "not UTF-8 text (save the file as UTF-8)")
		}
		if strings.ContainsRune(l, 0) {
			return nil, lineError(i+1, "holds a NUL character: binary data, not subtitles")
		}
	}
	return lines, nil
}

func fromUTF16(data []byte) ([]byte, error) {
	if len(data)%2 != 0 {
		return nil, fmt.Errorf("%w: UTF-16 file with an odd number of bytes", ErrInvalid)
	}
	big := data[0] == 0xfe
	u := make([]uint16, 0, len(data)/2-1)
	for i := 2; i < len(data); i += 2 {
		if big {
			u = append(u, uint16(data[i])<<8|uint16(data[i+1]))
		} else {
			u = append(u, uint16(data[i+1])<<8|uint16(data[i]))
		}
	}
	return []byte(string(utf16.Decode(u))), nil
}

// quote shows the start of a bad line in an error.
func quote(s string) string {
	if r := []rune(s); len(r) > 40 {
		s = string(r[:40]) + "…"
	}
	return fmt.Sprintf("%q", s)
}

// formatTime writes d as hh:mm:ss followed by sep and milliseconds.
func formatTime(d time.Duration, sep byte) string {
	ms := d.Milliseconds()
	return fmt.Sprintf("%02d:%02d:%02d%c%03d", ms/3600000, ms/60000%60, ms/1000%60, sep, ms%1000)
}
