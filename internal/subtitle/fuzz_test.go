package subtitle

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseSRT feeds the reader arbitrary files. Whatever the input, it
// must not panic; it either refuses the file with ErrInvalid, or the file
// converts to a WebVTT file (and back to SRT) that reads again with the
// same cue times.
//
//	go test ./internal/subtitle -run '^$' -fuzz FuzzParseSRT -fuzztime 60s
func FuzzParseSRT(f *testing.F) {
	files, _ := filepath.Glob("testdata/*")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("1\n00:00:01,000 --> 00:00:02,000\n<i>a</i> & <b>b</b> --> c\n"))
	f.Add([]byte("\xef\xbb\xbf1\r\n0:0:1.5 --> 0:0:2,75\r\n{\\an8}x"))
	f.Add([]byte("\xff\xfe1\x00\n\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		from, cues, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error without ErrInvalid: %v", err)
			}
			return
		}
		to := map[Format]Format{SRT: WebVTT, WebVTT: SRT}[from]
		var out bytes.Buffer
		if _, err := Convert(&out, bytes.NewReader(data), to); err != nil {
			t.Fatalf("parsed, but %s -> %s failed: %v", from, to, err)
		}
		got, again, err := Parse(out.Bytes())
		if err != nil || got != to {
			t.Fatalf("%s output does not read as %s (%v):\n%q", to, to, err, out.Bytes())
		}
		if len(again) != len(cues) {
			t.Fatalf("%d cues became %d:\n%q\n->\n%q", len(cues), len(again), data, out.Bytes())
		}
		for i := range cues {
			if cues[i].Start != again[i].Start || cues[i].End != again[i].End {
				t.Fatalf("cue %d: %v-%v became %v-%v", i, cues[i].Start, cues[i].End, again[i].Start, again[i].End)
			}
		}
	})
}
