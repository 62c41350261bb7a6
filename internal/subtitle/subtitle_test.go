package subtitle

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGolden converts each sample in testdata to the other format and
// compares the result with NAME.golden (-update rewrites them).
func TestGolden(t *testing.T) {
	for _, c := range []struct {
		file string
		to   Format
	}{{"bom-crlf.srt", WebVTT}, {"sloppy.srt", WebVTT}, {"youtube.vtt", SRT}} {
		t.Run(c.file, func(t *testing.T) {
			src := read(t, c.file)
			var out bytes.Buffer
			from, err := Convert(&out, bytes.NewReader(src), c.to)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[string]Format{".srt": SRT, ".vtt": WebVTT}[filepath.Ext(c.file)]; from != want {
				t.Errorf("detected %s, want %s", from, want)
			}
			golden := filepath.Join("testdata", c.file+".golden"+c.to.Ext())
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if want := read(t, filepath.Base(golden)); !bytes.Equal(out.Bytes(), want) {
				t.Errorf("%s differs:\n got:\n%s\nwant:\n%s", golden, out.Bytes(), want)
			}
			// The output is a valid file of its format, with the same cues.
			got, cues, err := Parse(out.Bytes())
			if err != nil || got != c.to {
				t.Fatalf("output does not parse as %s: %s %v", c.to, got, err)
			}
			_, in, _ := Parse(src)
			if len(cues) != len(in) {
				t.Fatalf("%d cues in, %d out", len(in), len(cues))
			}
			for i := range cues {
				if cues[i].Start != in[i].Start || cues[i].End != in[i].End {
					t.Errorf("cue %d: %v-%v, was %v-%v", i, cues[i].Start, cues[i].End, in[i].Start, in[i].End)
				}
			}
		})
	}
}

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPassThroughUnchanged(t *testing.T) {
	for _, file := range []string{"bom-crlf.srt", "sloppy.srt", "youtube.vtt"} {
		src := read(t, file)
		from, _, err := Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, to := range []Format{"", from} {
			var out bytes.Buffer
			if _, err := Convert(&out, bytes.NewReader(src), to); err != nil {
				t.Fatalf("%s to %q: %v", file, to, err)
			}
			if !bytes.Equal(out.Bytes(), src) {
				t.Errorf("%s to %q changed the file", file, to)
			}
		}
	}
}

func TestSRTDetails(t *testing.T) {
	_, cues, err := Parse(read(t, "sloppy.srt"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Cue{
		{ID: "12", Start: time.Second + 5*time.Millisecond, End: 2750 * time.Millisecond, Line: 4,
			Text: []string{"No number on the next cue,", "and no blank line before it"}},
		{Start: 3 * time.Second, End: 4 * time.Second, Line: 7, Text: []string{"second cue"}},
		{ID: "13", Start: 5 * time.Second, End: 6 * time.Second, Line: 10, Text: []string{"line with trailing spaces   "}},
		{ID: "99", Start: 7 * time.Second, End: 8 * time.Second, Line: 15, Text: []string{"last, with blank lines after"}},
	}
	if len(cues) != len(want) {
		t.Fatalf("%d cues: %+v", len(cues), cues)
	}
	for i := range want {
		if !equalCue(cues[i], want[i]) {
			t.Errorf("cue %d:\n got %+v\nwant %+v", i, cues[i], want[i])
		}
	}
}

func equalCue(a, b Cue) bool {
	return a.ID == b.ID && a.Start == b.Start && a.End == b.End && a.Settings == b.Settings && a.Line == b.Line &&
		strings.Join(a.Text, "\n") == strings.Join(b.Text, "\n")
}

func TestUTF16AndCR(t *testing.T) {
	text := "1\r00:00:01,000 --> 00:00:02,000\rÉté – ça va?\r"
	for name, bom := range map[string][]byte{"le": {0xff, 0xfe}, "be": {0xfe, 0xff}} {
		data := bytes.Clone(bom)
		for _, u := range utf16.Encode([]rune(text)) {
			if name == "le" {
				data = append(data, byte(u), byte(u>>8))
			} else {
				data = append(data, byte(u>>8), byte(u))
			}
		}
		var out bytes.Buffer
		if _, err := Convert(&out, bytes.NewReader(data), WebVTT); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := "WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.000\nÉté – ça va?\n"; out.String() != want {
			t.Errorf("UTF-16%s: got %q, want %q", name, out.String(), want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	var vtt, srt bytes.Buffer
	if _, err := Convert(&vtt, bytes.NewReader(read(t, "bom-crlf.srt")), WebVTT); err != nil {
		t.Fatal(err)
	}
	if _, err := Convert(&srt, &vtt, SRT); err != nil {
		t.Fatal(err)
	}
	want := "1\n00:00:01,000 --> 00:00:04,200\n<i>Previously on</i> <b>Harbour Lights</b>...\n\n" +
		"2\n00:00:05,100 --> 00:00:07,900\n[door slams]\n\n" +
		"3\n00:00:08,000 --> 00:00:10,500\n- Fish & chips?\n- Only if you <i>promise</i> <3\n\n" +
		"4\n01:02:03,004 --> 01:02:05,000\nThe End\n"
	if srt.String() != want {
		t.Fatalf("SRT -> WebVTT -> SRT:\n%s\nwant:\n%s", srt.String(), want)
	}
}

func TestGarbageRefusedWithItsLine(t *testing.T) {
	const cue = "1\n00:00:01,000 --> 00:00:02,000\nHello\n\n"
	cases := []struct {
		name, data, want string
	}{
		{"empty", "", "line 1: no cues: the file is empty"},
		{"blank", "\n\n  \n", "line 1: no cues"},
		{"prose", "Dear partner,\nplease find attached...\n", `line 1: not SRT: want a cue number or a timing like 00:00:01,000 --> 00:00:04,000 (or a WEBVTT header), got "Dear partner,"`},
		{"html", "<html><body>404 Not Found</body></html>", "line 1: not SRT"},
		{"webvtt lookalike", "WEBVTTX\n\n00:01.000 --> 00:02.000\nx\n", "line 1: not SRT"},
		{"number without timing", "1\nHello\n", `line 1: not SRT: want a cue number or a timing`},
		{"garbage after a cue", cue + "this is not a cue\n", `line 5: want a cue number or a timing like 00:00:01,000 --> 00:00:04,000 after the blank line, got "this is not a cue"`},
		{"minutes 61", cue + "2\n00:61:00,000 --> 01:02:00,000\nx\n", "line 6: impossible time (minutes and seconds are 0-59)"},
		{"ends before it starts", cue + "2\n00:00:05,000 --> 00:00:04,000\nx\n", "line 6: the cue ends (00:00:04,000) before it starts (00:00:05,000)"},
		{"not utf-8", cue + "2\n00:00:03,000 --> 00:00:04,000\nCaf\xe9\n", "line 7: not UTF-8 text (save the file as UTF-8)"},
		{"binary", "\x00\x01\x02\x03PK\x03\x04", "line 1: holds a NUL character"},
		{"vtt comma", "WEBVTT\n\n00:00:01,000 --> 00:00:02,000\nx\n", `line 3: want a cue timing like 00:00:01.000 --> 00:00:04.000, got "00:00:01,000 --> 00:00:02,000"`},
		{"vtt id without timing", "WEBVTT\n\nintro\n\n00:01.000 --> 00:02.000\nx\n", `line 3: want a cue timing like 00:00:01.000 --> 00:00:04.000 after the cue identifier "intro"`},
		{"vtt text block", "WEBVTT\n\n00:01.000 --> 00:02.000\nx\n\nstray text\nmore\n", `line 7: want a cue timing like 00:00:01.000 --> 00:00:04.000, got "more"`},
		{"vtt without cues", "WEBVTT\n\nNOTE nothing yet\n", "line 1: no cues: the file has a header and no subtitles"},
		{"vtt seconds 60", "WEBVTT\n\n00:60.000 --> 01:02.000\nx\n", "line 3: impossible time"},
		{"vtt backwards", "WEBVTT\n\n00:05.000 --> 00:04.000\nx\n", "line 3: the cue ends (00:00:04.000) before it starts (00:00:05.000)"},
		{"utf-16 odd", "\xff\xfe1\x00\x0a", "UTF-16 file with an odd number of bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			_, err := Convert(&out, strings.NewReader(c.data), WebVTT)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want ErrInvalid saying %q", err, c.want)
			}
			if out.Len() != 0 {
				t.Fatalf("wrote %d bytes, then failed", out.Len())
			}
		})
	}
}

func TestLimitsAndIO(t *testing.T) {
	big := strings.Repeat("x", MaxSize+1)
	if _, err := Convert(&bytes.Buffer{}, strings.NewReader(big), ""); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "larger than 8 MiB") {
		t.Errorf("oversize file: %v", err)
	}
	if _, err := Convert(&bytes.Buffer{}, bytes.NewReader(read(t, "sloppy.srt")), "ass"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `unknown target format "ass"`) {
		t.Errorf("unknown format: %v", err)
	}
	cut := errors.New("connection reset")
	if _, err := Convert(&bytes.Buffer{}, &failing{err: cut}, WebVTT); !errors.Is(err, cut) || errors.Is(err, ErrInvalid) {
		t.Errorf("read error: %v, want it wrapped and not ErrInvalid", err)
	}
	if _, err := Convert(&failing{err: cut}, bytes.NewReader(read(t, "sloppy.srt")), WebVTT); !errors.Is(err, cut) || errors.Is(err, ErrInvalid) {
		t.Errorf("write error: %v", err)
	}
	if WebVTT.Ext() != ".vtt" || SRT.Ext() != ".srt" {
		t.Error("extensions")
	}
}

type failing struct{ err error }

func (f *failing) Read([]byte) (int, error)  { return 0, f.err }
func (f *failing) Write([]byte) (int, error) { return 0, f.err }

func TestMarkup(t *testing.T) {
	for in, want := range map[string]string{
		`<B>bold</B> & <font face="Arial" color=red>plain</font>`: `<b>bold</b> &amp; plain`,
		`a < b > c --> d`:           `a &lt; b &gt; c --&gt; d`,
		`{\an8}{\i1}top{\i0}`:       `top`,
		`<u>under</u><script>x</s>`: `<u>under</u>&lt;script&gt;x&lt;/s&gt;`,
	} {
		if got := srtToVTTText(in); got != want {
			t.Errorf("srtToVTTText(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		`<v.loud Anna>Hi</v> <i.x>there</i>`:       `Hi <i>there</i>`,
		`&amp;&lt;&gt;&nbsp;<00:00:01.000>karaoke`: "&<>\u00a0karaoke",
		`<ruby>漢<rt>kan</rt></ruby>`:               `漢kan`,
	} {
		if got := vttToSRTText(in); got != want {
			t.Errorf("vttToSRTText(%q) = %q, want %q", in, got, want)
		}
	}
	for pos, want := range map[string]string{`{\an8}`: "line:0", `{\an7}`: "line:0 align:left", `{\an2}`: "", `{\an6}`: "line:50% align:right"} {
		if got := srtPosition([]string{"x", pos + "y"}); got != want {
			t.Errorf("srtPosition(%s) = %q, want %q", pos, got, want)
		}
	}
}
