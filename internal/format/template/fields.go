package template

import (
	"slices"
	"sync/atomic"
	"text/template"
	"text/template/parse"

	"github.com/syndicate-media/syndicate/internal/domain"
)

// UsedFields walks the parsed template for the asset fields it can
// print: .ID .Type .Title .Rights, .Metadata.key, index .Metadata "key",
// through with/range/variables/{{template}} calls. Whenever it cannot
// tell (a variable it did not see declared, .Metadata or the whole data
// handed to a function or printed, a key computed at run time) it says
// all, or "metadata.*" when only metadata is in doubt.
func (Format) UsedFields(p domain.Partner) ([]string, bool) {
	var stop atomic.Bool
	t, err := template.New("template").Funcs(funcs(&stop)).Parse(p.FormatOptions.Template)
	if err != nil {
		return nil, true
	}
	u := &usage{t: t, fields: map[string]bool{}}
	u.template("template", kindRoot, 0)
	if u.all {
		return nil, true
	}
	out := make([]string, 0, len(u.fields))
	for f := range u.fields {
		out = append(out, f)
	}
	slices.Sort(out)
	return out, false
}

// kind is what a value in the template is, as far as asset fields go.
type kind int

const (
	kindUnknown kind = iota
	kindRoot         // the Data
	kindMeta         // the whole metadata map
	kindFiles        // .Files
	kindOther        // anything else: a string, a file, a list element
)

type usage struct {
	t      *template.Template
	fields map[string]bool
	all    bool
}

// template walks a named template executed with a dot of kind dot.
func (u *usage) template(name string, dot kind, depth int) {
	tt := u.t.Lookup(name)
	if depth > 20 { // recursion is refused at render; here, give up
		u.all = true
		return
	}
	if tt == nil || tt.Tree == nil {
		return
	}
	u.list(tt.Tree.Root, dot, map[string]kind{"$": dot}, depth)
}

func (u *usage) list(l *parse.ListNode, dot kind, vars map[string]kind, depth int) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.ActionNode:
			k := u.pipe(n.Pipe, dot, vars)
			if len(n.Pipe.Decl) == 0 {
				u.consume(k) // printed
			}
		case *parse.IfNode:
			u.pipe(n.Pipe, dot, vars)
			u.list(n.List, dot, vars, depth)
			u.list(n.ElseList, dot, vars, depth)
		case *parse.WithNode:
			k := u.pipe(n.Pipe, dot, vars)
			u.list(n.List, k, vars, depth)
			u.list(n.ElseList, dot, vars, depth)
		case *parse.RangeNode:
			k := u.pipe(n.Pipe, dot, vars)
			switch k {
			case kindMeta:
				u.fields["metadata.*"] = true
			case kindRoot, kindUnknown:
				u.all = true
			}
			if d := n.Pipe.Decl; len(d) > 0 {
				for _, v := range d {
					vars[v.Ident[0]] = kindOther // index or element: not an asset field
				}
			}
			u.list(n.List, kindOther, vars, depth)
			u.list(n.ElseList, dot, vars, depth)
		case *parse.TemplateNode:
			k := kindOther
			if n.Pipe != nil {
				k = u.pipe(n.Pipe, dot, vars)
			}
			u.template(n.Name, k, depth+1)
		}
	}
}

// pipe evaluates a pipeline's kind, recording the fields it reads. A
// declared variable takes the pipeline's kind.
func (u *usage) pipe(p *parse.PipeNode, dot kind, vars map[string]kind) kind {
	if p == nil {
		return kindOther
	}
	k := kindOther
	for i, c := range p.Cmds {
		if i > 0 {
			u.consume(k) // passed on as the next command's last argument
		}
		k = u.command(c, dot, vars)
	}
	for _, v := range p.Decl {
		vars[v.Ident[0]] = k
	}
	return k
}

func (u *usage) command(c *parse.CommandNode, dot kind, vars map[string]kind) kind {
	if len(c.Args) == 1 {
		return u.arg(c.Args[0], dot, vars)
	}
	if id, ok := c.Args[0].(*parse.IdentifierNode); ok && id.Ident == "index" && len(c.Args) >= 3 {
		if u.arg(c.Args[1], dot, vars) == kindMeta {
			if key, ok := c.Args[2].(*parse.StringNode); ok {
				u.fields["metadata."+key.Text] = true
			} else {
				u.fields["metadata.*"] = true
			}
			for _, a := range c.Args[2:] {
				u.consume(u.arg(a, dot, vars))
			}
			return kindOther
		}
	}
	for _, a := range c.Args[1:] {
		u.consume(u.arg(a, dot, vars)) // handed to a function
	}
	if _, ok := c.Args[0].(*parse.IdentifierNode); !ok {
		u.consume(u.arg(c.Args[0], dot, vars))
	}
	return kindOther
}

func (u *usage) arg(n parse.Node, dot kind, vars map[string]kind) kind {
	switch n := n.(type) {
	case *parse.DotNode:
		return dot
	case *parse.FieldNode:
		return u.chain(dot, n.Ident)
	case *parse.VariableNode:
		k, ok := vars[n.Ident[0]]
		if !ok {
			k = kindUnknown
		}
		return u.chain(k, n.Ident[1:])
	case *parse.ChainNode:
		return u.chain(u.arg(n.Node, dot, vars), n.Field)
	case *parse.PipeNode:
		return u.pipe(n, dot, vars)
	}
	return kindOther
}

// chain follows .A.B.C from a value of kind base.
func (u *usage) chain(base kind, idents []string) kind {
	if len(idents) == 0 {
		return base
	}
	switch base {
	case kindRoot:
		switch idents[0] {
		case "ID", "Type", "Title":
			u.fields[map[string]string{"ID": "id", "Type": "type", "Title": "title"}[idents[0]]] = true
		case "Rights":
			u.fields["rights"] = true
		case "Metadata":
			if len(idents) == 1 {
				return kindMeta
			}
			u.fields["metadata."+idents[1]] = true
		case "Files":
			if len(idents) == 1 {
				return kindFiles
			}
		}
	case kindMeta:
		u.fields["metadata."+idents[0]] = true
	case kindUnknown:
		u.all = true
	}
	return kindOther
}

// consume records a value that is printed or handed to a function whole.
func (u *usage) consume(k kind) {
	switch k {
	case kindRoot, kindUnknown:
		u.all = true
	case kindMeta:
		u.fields["metadata.*"] = true
	}
}
