package subtitle

import (
	"bytes"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// srtTiming is an SRT timing line, read as ffmpeg and most players do:
// hours of any length, one or two digit minutes and seconds, ',' or '.'
// and 1-3 digits of milliseconds (taken as a number, so ",5" is 5 ms),
// and anything after the end time (SRT's X1: Y1: box) ignored.
var srtTiming = regexp.MustCompile(`^\s*(\d+):(\d{1,2}):(\d{1,2})[,.](\d{1,3})\s*-->\s*(\d+):(\d{1,2}):(\d{1,2})[,.](\d{1,3})(?:\s.*)?$`)

var errBadTime = errors.New("impossible time (minutes and seconds are 0-59)")

var cueNumber = regexp.MustCompile(`^\s*\d+\s*$`)

// parseSRT reads SRT cues. A cue is an optional number line, a timing
// line and text lines up to a blank line; a timing line (or a number line
// followed by one) also starts a new cue when the blank line before it is
// missing.
func parseSRT(lines []string) ([]Cue, error) {
	var cues []Cue
	startsCue := func(i int) bool {
		return srtTiming.MatchString(lines[i]) ||
			(cueNumber.MatchString(lines[i]) && i+1 < len(lines) && srtTiming.MatchString(lines[i+1]))
	}
	for i := 0; i < len(lines); {
		if strings.TrimSpace(lines[i]) == "" {
			i++
			continue
		}
		var c Cue
		if cueNumber.MatchString(lines[i]) && i+1 < len(lines) && srtTiming.MatchString(lines[i+1]) {
			c.ID = strings.TrimSpace(lines[i])
			i++
		}
		m := srtTiming.FindStringSubmatch(lines[i])
		if m == nil {
			if len(cues) == 0 {
				return nil, lineError(i+1, "not SRT: want a cue number or a timing like 00:00:01,000 --> 00:00:04,000 (or a WEBVTT header), got %s", quote(lines[i]))
			}
			return nil, lineError(i+1, "want a cue number or a timing like 00:00:01,000 --> 00:00:04,000 after the blank line, got %s", quote(lines[i]))
		}
		c.Line = i + 1
		var err error
		if c.Start, err = srtTime(m[1:5]); err == nil {
			c.End, err = srtTime(m[5:9])
		}
		if err != nil {
			return nil, lineError(c.Line, "%v in %s", err, quote(lines[i]))
		}
		if c.End < c.Start {
			return nil, lineError(c.Line, "the cue ends (%s) before it starts (%s)", formatTime(c.End, ','), formatTime(c.Start, ','))
		}
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "" && !startsCue(i); i++ {
			c.Text = append(c.Text, lines[i])
		}
		cues = append(cues, c)
	}
	if len(cues) == 0 {
		return nil, lineError(1, "no cues: the file is empty")
	}
	return cues, nil
}

func srtTime(m []string) (time.Duration, error) {
	var v [4]int
	for i, s := range m {
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, errBadTime // more hours than an int holds
		}
		v[i] = n
	}
	if v[1] > 59 || v[2] > 59 || v[0] > 999 {
		return 0, errBadTime
	}
	return time.Duration(v[0])*time.Hour + time.Duration(v[1])*time.Minute +
		time.Duration(v[2])*time.Second + time.Duration(v[3])*time.Millisecond, nil
}

// writeSRT writes cues (in WebVTT markup) as SRT, numbered from 1.
func writeSRT(cues []Cue) []byte {
	var b bytes.Buffer
	for i, c := range cues {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(strconv.Itoa(i+1) + "\n")
		b.WriteString(formatTime(c.Start, ',') + " --> " + formatTime(c.End, ',') + "\n")
		for _, l := range c.Text {
			// A line left blank by removing its tags would end the cue, and
			// an unescaped --> could read as a timing line.
			l = strings.ReplaceAll(vttToSRTText(l), "-->", "→")
			if strings.TrimSpace(l) != "" {
				b.WriteString(l + "\n")
			}
		}
	}
	return b.Bytes()
}
