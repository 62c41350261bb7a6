package partner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// A document is a profile as read from YAML or JSON, before it is checked:
// its value in the shapes encoding/json produces (map[string]any, []any,
// string, json.Number, bool, nil), which is what the schema validator
// takes, and where each field's key was written, so that a problem found
// at a JSON pointer can be reported at a line and column.
type document struct {
	value any
	at    map[string]pos // by pointer(loc)
}

type pos struct{ line, col int }

// Limits on what a profile may look like; a real one is four levels deep
// and has a few dozen values. They keep a hostile document (deep nesting,
// YAML alias bombs) from costing more than a small one.
const (
	maxDepth  = 32
	maxValues = 10000
)

// position is where the field at loc, or else its nearest written
// ancestor, starts; 0, 0 when nothing is known.
func (d *document) position(loc []string) (line, col int) {
	for i := len(loc); i >= 0; i-- {
		if p, ok := d.at[pointer(loc[:i])]; ok {
			return p.line, p.col
		}
	}
	return 0, 0
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// pointer is the JSON pointer (RFC 6901) of a location.
func pointer(loc []string) string {
	var b strings.Builder
	for _, s := range loc {
		b.WriteByte('/')
		b.WriteString(pointerEscaper.Replace(s))
	}
	return b.String()
}

// readDocument reads one YAML or JSON document. JSON goes through the JSON
// reader (YAML 1.2 is a superset, but a YAML parser rejects some valid
// JSON, such as surrogate-pair escapes); everything else is YAML. A
// document that does not parse comes back as problems, each with a line.
func readDocument(filename string, data []byte) (*document, []problem) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	doc := &document{at: map[string]pos{}}
	trimmed := bytes.TrimSpace(data)
	isJSON := strings.EqualFold(filepath.Ext(filename), ".json")
	if isJSON || (len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') && json.Valid(trimmed)) {
		return readJSON(doc, data)
	}
	return readYAML(doc, data)
}

func readYAML(doc *document, data []byte) (*document, []problem) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); errors.Is(err, io.EOF) {
		return doc, []problem{{msg: "empty document: expected a partner profile (id, name, format, destination)", line: 1}}
	} else if err != nil {
		return doc, []problem{yamlSyntax(data, err)}
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		return doc, []problem{{msg: "a second YAML document: a file holds one partner profile", line: max(next.Line, 1), col: next.Column}}
	} else if !errors.Is(err, io.EOF) {
		return doc, []problem{yamlSyntax(data, err)}
	}
	n := &root
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	doc.at[""] = pos{n.Line, n.Column}
	r := yamlReader{doc: doc}
	v, p := r.value(n, nil, 0, true)
	if p != nil {
		return doc, []problem{*p}
	}
	doc.value = v
	return doc, nil
}

var yamlLine = regexp.MustCompile(`(?s)^yaml: line (\d+): (.*)$`)

// yamlParserErrors are the messages of yaml.v3's parser (as opposed to its
// scanner). For these it reports the 0-based line where the unfinished
// construct began (yaml.v3 decode.go, parser.fail), not a 1-based one.
var yamlParserErrors = []string{
	"did not find expected <stream-start>", "did not find expected <document start>",
	"did not find expected node content", "did not find expected '-' indicator",
	"did not find expected key", "did not find expected ',' or ']'", "did not find expected ',' or '}'",
	"found undefined tag handle", "found duplicate %YAML directive", "found incompatible YAML document",
	"found duplicate %TAG directive",
}

// yamlSyntax turns a yaml.v3 parse error ("yaml: line 3: could not find
// expected ':'") into a problem on that line.
func yamlSyntax(data []byte, err error) problem {
	msg := err.Error()
	m := yamlLine.FindStringSubmatch(msg)
	if m == nil {
		return problem{msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: "), line: 1}
	}
	line, _ := strconv.Atoi(m[1])
	if slices.ContainsFunc(yamlParserErrors, func(p string) bool { return strings.HasPrefix(m[2], p) }) {
		lines := bytes.Count(data, []byte("\n"))
		if !bytes.HasSuffix(data, []byte("\n")) {
			lines++
		}
		line = min(line+1, max(lines, 1))
	}
	return problem{msg: "invalid YAML: " + m[2], line: line}
}

// yamlReader turns a yaml.v3 node tree into a value, noting where each
// key was written.
type yamlReader struct {
	doc    *document
	values int
}

// value reads n at loc. record is false inside an alias's expansion: those
// nodes were written elsewhere, so their fields keep the alias's position.
func (r *yamlReader) value(n *yaml.Node, loc []string, depth int, record bool) (any, *problem) {
	if r.values++; r.values > maxValues {
		return nil, &problem{loc: loc, msg: fmt.Sprintf("more than %d values (after expanding aliases)", maxValues)}
	}
	if depth > maxDepth {
		return nil, &problem{loc: loc, msg: fmt.Sprintf("nested deeper than %d levels", maxDepth), line: n.Line, col: n.Column}
	}
	switch n.Kind {
	case yaml.AliasNode:
		return r.value(n.Alias, loc, depth+1, false)
	case yaml.ScalarNode:
		return scalar(n, loc)
	case yaml.SequenceNode:
		list := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			child := append(slices.Clip(loc), strconv.Itoa(i))
			if record {
				r.doc.at[pointer(child)] = pos{c.Line, c.Column}
			}
			v, p := r.value(c, child, depth+1, record)
			if p != nil {
				return nil, p
			}
			list = append(list, v)
		}
		return list, nil
	case yaml.MappingNode:
		return r.mapping(n, loc, depth, record)
	}
	return nil, &problem{loc: loc, msg: "unsupported YAML node", line: n.Line, col: n.Column}
}

func (r *yamlReader) mapping(n *yaml.Node, loc []string, depth int, record bool) (any, *problem) {
	m := map[string]any{}
	seen := map[string]int{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return nil, &problem{loc: loc, msg: "a field name must be a plain string", line: k.Line, col: k.Column}
		}
		child := append(slices.Clip(loc), k.Value)
		if first, dup := seen[k.Value]; dup {
			return nil, &problem{loc: child, msg: fmt.Sprintf("written twice (first on line %d)", first), line: k.Line, col: k.Column}
		}
		seen[k.Value] = k.Line
		if record {
			r.doc.at[pointer(child)] = pos{k.Line, k.Column}
		}
		val, p := r.value(v, child, depth+1, record)
		if p != nil {
			return nil, p
		}
		m[k.Value] = val
	}
	// A merge key (<<: *base) adds the fields the mapping does not set.
	for _, mg := range merges {
		v, p := r.value(mg, loc, depth+1, false)
		if p != nil {
			return nil, p
		}
		srcs, ok := v.([]any)
		if !ok {
			srcs = []any{v}
		}
		for _, src := range srcs {
			sm, ok := src.(map[string]any)
			if !ok {
				return nil, &problem{loc: loc, msg: "<< must merge a mapping or a list of mappings", line: mg.Line, col: mg.Column}
			}
			for k, v := range sm {
				if _, set := m[k]; !set {
					m[k] = v
				}
			}
		}
	}
	return m, nil
}

// scalar resolves a YAML scalar as yaml.v3 does (YAML 1.2 core schema) and
// writes numbers as json.Number, the way the JSON reader does.
func scalar(n *yaml.Node, loc []string) (any, *problem) {
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, &problem{loc: loc, msg: "invalid YAML value: " + strings.TrimPrefix(err.Error(), "yaml: "), line: n.Line, col: n.Column}
	}
	switch x := v.(type) {
	case nil, string, bool:
		return x, nil
	case int:
		return json.Number(strconv.Itoa(x)), nil
	case int64:
		return json.Number(strconv.FormatInt(x, 10)), nil
	case uint64:
		return json.Number(strconv.FormatUint(x, 10)), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, &problem{loc: loc, msg: "expected a finite number", line: n.Line, col: n.Column}
		}
		return json.Number(strconv.FormatFloat(x, 'g', -1, 64)), nil
	case time.Time:
		return x.Format(time.RFC3339Nano), nil
	case []byte:
		return string(x), nil
	}
	return n.Value, nil
}
