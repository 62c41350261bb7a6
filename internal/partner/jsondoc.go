package partner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// readJSON reads a JSON document, noting where each key starts.
func readJSON(doc *document, data []byte) (*document, []problem) {
	if err := json.Unmarshal(data, new(any)); err != nil {
		return doc, []problem{jsonSyntax(data, err)}
	}
	r := jsonReader{data: data, dec: json.NewDecoder(bytes.NewReader(data)), doc: doc, lines: lineStarts(data)}
	r.dec.UseNumber()
	v, p := r.value(nil, 0)
	if p != nil {
		return doc, []problem{*p}
	}
	doc.value = v
	return doc, nil
}

func jsonSyntax(data []byte, err error) problem {
	p := problem{msg: "invalid JSON: " + err.Error(), line: 1}
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		// Offset counts the byte that was wrong.
		p.line, p.col = offsetPos(data, lineStarts(data), int(se.Offset)-1)
	}
	return p
}

// jsonReader walks a JSON document token by token, so that it knows the
// byte offset, hence the line, where each key starts. The document has
// already been checked to be valid JSON.
type jsonReader struct {
	data  []byte
	dec   *json.Decoder
	doc   *document
	lines []int
}

func (r *jsonReader) value(loc []string, depth int) (any, *problem) {
	start := r.next()
	if loc == nil {
		r.doc.at[""] = r.pos(start)
	}
	tok, err := r.dec.Token()
	if err != nil {
		return nil, r.fail(loc, start, err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	if depth > maxDepth {
		return nil, &problem{loc: loc, msg: fmt.Sprintf("nested deeper than %d levels", maxDepth)}
	}
	if d == '[' {
		list := []any{}
		for i := 0; r.dec.More(); i++ {
			child := append(slices.Clip(loc), strconv.Itoa(i))
			r.doc.at[pointer(child)] = r.pos(r.next())
			v, p := r.value(child, depth+1)
			if p != nil {
				return nil, p
			}
			list = append(list, v)
		}
		_, err = r.dec.Token()
		return list, r.fail(loc, start, err)
	}
	m := map[string]any{}
	for r.dec.More() {
		kstart := r.next()
		tok, err := r.dec.Token()
		if err != nil {
			return nil, r.fail(loc, kstart, err)
		}
		k, _ := tok.(string)
		child := append(slices.Clip(loc), k)
		if _, dup := m[k]; dup {
			p := r.pos(kstart)
			return nil, &problem{loc: child, msg: "written twice", line: p.line, col: p.col}
		}
		r.doc.at[pointer(child)] = r.pos(kstart)
		v, p := r.value(child, depth+1)
		if p != nil {
			return nil, p
		}
		m[k] = v
	}
	_, err = r.dec.Token()
	return m, r.fail(loc, start, err)
}

// next is the offset of the next token: the decoder's offset is the end
// of the last one, and separators belong to the token after them.
func (r *jsonReader) next() int {
	off := int(r.dec.InputOffset())
	for off < len(r.data) && strings.IndexByte(" \t\r\n,:", r.data[off]) >= 0 {
		off++
	}
	return off
}

func (r *jsonReader) pos(off int) pos {
	l, c := offsetPos(r.data, r.lines, off)
	return pos{l, c}
}

func (r *jsonReader) fail(loc []string, off int, err error) *problem {
	if err == nil {
		return nil
	}
	p := r.pos(off)
	return &problem{loc: loc, msg: "invalid JSON: " + err.Error(), line: p.line, col: p.col}
}

// lineStarts lists the offset at which each line begins.
func lineStarts(data []byte) []int {
	starts := []int{0}
	for i, b := range data {
		if b == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// offsetPos is the 1-based line and column (in characters) of a byte offset.
func offsetPos(data []byte, starts []int, off int) (line, col int) {
	off = min(max(off, 0), len(data))
	i := sort.Search(len(starts), func(i int) bool { return starts[i] > off }) - 1
	return i + 1, utf8.RuneCount(data[starts[i]:off]) + 1
}
