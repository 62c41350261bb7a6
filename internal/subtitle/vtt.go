package subtitle

import (
	"bytes"
	"html"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// vttTimestamp is WebVTT's (hh:)mm:ss.ttt.
const vttTimestamp = `(?:(\d{2,}):)?(\d{2}):(\d{2})\.(\d{3})`

var vttTiming = regexp.MustCompile(`^` + vttTimestamp + `[ \t]+-->[ \t]+` + vttTimestamp + `(?:[ \t]+(.*))?$`)

// isVTTHeader reports whether line is a WebVTT file's first line:
// WEBVTT, alone or followed by a space or tab and any text.
func isVTTHeader(line string) bool {
	rest, ok := strings.CutPrefix(line, "WEBVTT")
	return ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t')
}

// blockIs reports whether line opens a block of the given kind (NOTE,
// STYLE, REGION): the word alone or followed by a space or tab.
func blockIs(line, kind string) bool {
	rest, ok := strings.CutPrefix(line, kind)
	return ok && !strings.Contains(line, "-->") && (strings.TrimSpace(rest) == "" || rest[0] == ' ' || rest[0] == '\t')
}

// parseVTT reads a WebVTT file's cues; comments (NOTE), style sheets and
// regions are checked for nothing and skipped. Cues keep their settings.
func parseVTT(lines []string) ([]Cue, error) {
	i := 1
	for i < len(lines) && lines[i] != "" && !strings.Contains(lines[i], "-->") {
		i++ // header lines (old files' Kind:, Language:)
	}
	var cues []Cue
	for i < len(lines) {
		if strings.TrimSpace(lines[i]) == "" {
			i++
			continue
		}
		if blockIs(lines[i], "NOTE") || blockIs(lines[i], "STYLE") || blockIs(lines[i], "REGION") {
			for i < len(lines) && lines[i] != "" {
				i++
			}
			continue
		}
		var c Cue
		if !strings.Contains(lines[i], "-->") {
			c.ID = lines[i]
			i++
			if i == len(lines) || strings.TrimSpace(lines[i]) == "" {
				return nil, lineError(i, "want a cue timing like 00:00:01.000 --> 00:00:04.000 after the cue identifier %s", quote(c.ID))
			}
		}
		m := vttTiming.FindStringSubmatch(lines[i])
		if m == nil {
			return nil, lineError(i+1, "want a cue timing like 00:00:01.000 --> 00:00:04.000, got %s", quote(lines[i]))
		}
		c.Line, c.Settings = i+1, strings.TrimSpace(m[9])
		var err error
		if c.Start, err = vttTime(m[1:5]); err == nil {
			c.End, err = vttTime(m[5:9])
		}
		if err != nil {
			return nil, lineError(c.Line, "%v in %s", err, quote(lines[i]))
		}
		if c.End < c.Start {
			return nil, lineError(c.Line, "the cue ends (%s) before it starts (%s)", formatTime(c.End, '.'), formatTime(c.Start, '.'))
		}
		// A line with --> starts the next cue even without a blank line.
		for i++; i < len(lines) && lines[i] != "" && !strings.Contains(lines[i], "-->"); i++ {
			c.Text = append(c.Text, lines[i])
		}
		cues = append(cues, c)
	}
	if len(cues) == 0 {
		// Valid WebVTT, but nothing to show: a partner would reject it.
		return nil, lineError(1, "no cues: the file has a header and no subtitles")
	}
	return cues, nil
}

func vttTime(m []string) (time.Duration, error) {
	h := 0
	if m[0] != "" {
		var err error
		if h, err = strconv.Atoi(m[0]); err != nil || h > 999 {
			return 0, errBadTime
		}
	}
	mi, _ := strconv.Atoi(m[1])
	s, _ := strconv.Atoi(m[2])
	ms, _ := strconv.Atoi(m[3])
	if mi > 59 || s > 59 {
		return 0, errBadTime
	}
	return time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute + time.Duration(s)*time.Second + time.Duration(ms)*time.Millisecond, nil
}

// writeVTT writes cues (in SRT markup) as WebVTT, keeping SRT's cue
// numbers as cue identifiers.
func writeVTT(cues []Cue) []byte {
	var b bytes.Buffer
	b.WriteString("WEBVTT\n")
	for _, c := range cues {
		b.WriteByte('\n')
		if c.ID != "" {
			b.WriteString(c.ID + "\n")
		}
		b.WriteString(formatTime(c.Start, '.') + " --> " + formatTime(c.End, '.'))
		if s := srtPosition(c.Text); s != "" {
			b.WriteString(" " + s)
		}
		b.WriteByte('\n')
		for _, l := range c.Text {
			// A line left blank by removing its tags would end the cue.
			if l = srtToVTTText(l); strings.TrimSpace(l) != "" {
				b.WriteString(l + "\n")
			}
		}
	}
	return b.Bytes()
}

var (
	// assOverride is an SSA/ASS override block some SRT files carry
	// ({\an8}, {\i1}); WebVTT would show it as text.
	assOverride = regexp.MustCompile(`\{\\[^}]*\}`)
	assAlign    = regexp.MustCompile(`\{\\an([1-9])\}`)
	// srtTag is a tag SRT players know: b, i, u, font.
	srtTag = regexp.MustCompile(`(?i)<(/?)(b|i|u|font)(?:\s[^>]*)?>`)
	// vttTag is any WebVTT tag: <b>, <i.class>, <v Speaker>, <00:00:01.000>.
	vttTag = regexp.MustCompile(`<(/?)([^\s.>]*)[^>]*>`)
)

// srtPosition turns an {\anN} (numpad position) in the cue into WebVTT
// cue settings: top and middle rows move the line, left and right
// columns the alignment.
func srtPosition(text []string) string {
	for _, l := range text {
		m := assAlign.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		var s []string
		switch m[1] {
		case "7", "8", "9":
			s = append(s, "line:0")
		case "4", "5", "6":
			s = append(s, "line:50%")
		}
		switch m[1] {
		case "1", "4", "7":
			s = append(s, "align:left")
		case "3", "6", "9":
			s = append(s, "align:right")
		}
		return strings.Join(s, " ")
	}
	return ""
}

var vttEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// srtToVTTText keeps b, i and u, drops font and SSA override blocks, and
// escapes the rest of the text for WebVTT.
func srtToVTTText(line string) string {
	line = assOverride.ReplaceAllString(line, "")
	var b strings.Builder
	last := 0
	for _, m := range srtTag.FindAllStringSubmatchIndex(line, -1) {
		b.WriteString(vttEscaper.Replace(line[last:m[0]]))
		if name := strings.ToLower(line[m[4]:m[5]]); name != "font" {
			b.WriteString("<" + line[m[2]:m[3]] + name + ">")
		}
		last = m[1]
	}
	b.WriteString(vttEscaper.Replace(line[last:]))
	return b.String()
}

// vttToSRTText keeps b, i and u (without classes), drops every other tag
// (voice, class, language, ruby, timestamps) and unescapes the text.
func vttToSRTText(line string) string {
	var b strings.Builder
	last := 0
	for _, m := range vttTag.FindAllStringSubmatchIndex(line, -1) {
		b.WriteString(html.UnescapeString(line[last:m[0]]))
		if name := line[m[4]:m[5]]; name == "b" || name == "i" || name == "u" {
			b.WriteString("<" + line[m[2]:m[3]] + name + ">")
		}
		last = m[1]
	}
	b.WriteString(html.UnescapeString(line[last:]))
	return b.String()
}
