package template

import (
	"fmt"
	"reflect"
	"strings"
	"text/template"
	"text/template/parse"
)

// check refuses, before execution, the two ways a template can run for
// ever without writing: ranging over a number ({{range 1000000000}},
// {{range len .X}}) and templates that call themselves, directly or not
// (recursion can branch exponentially).
func check(t *template.Template) error {
	calls := map[string][]string{}
	var first error
	for _, tt := range t.Templates() {
		if tt.Tree == nil || tt.Tree.Root == nil {
			continue
		}
		walk(tt.Tree.Root, func(n parse.Node) {
			switch n := n.(type) {
			case *parse.RangeNode:
				if first == nil && overNumber(n.Pipe) {
					first = fmt.Errorf("%s: range over a number is not allowed", where(tt.Tree, n))
				}
			case *parse.TemplateNode:
				calls[tt.Name()] = append(calls[tt.Name()], n.Name)
			}
		})
	}
	if first != nil {
		return first
	}
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string) error
	visit = func(name string) error {
		switch state[name] {
		case 1:
			return fmt.Errorf("template %q calls itself: recursion is not allowed", name)
		case 2:
			return nil
		}
		state[name] = 1
		for _, c := range calls[name] {
			if err := visit(c); err != nil {
				return err
			}
		}
		state[name] = 2
		return nil
	}
	for name := range calls {
		if err := visit(name); err != nil {
			return err
		}
	}
	return nil
}

// rangeGuard is the function guardRanges puts at the end of every range
// pipeline (funcs defines it): it sees the value the range is about to
// iterate over, whatever expression made it, and refuses numbers; and
// once the render has been given up it fails, so that a loop of nested
// ranges ends at the next range it enters.
const rangeGuard = "syndicateRangeGuard"

// guardRanges pipes every range's value through rangeGuard. The static
// check above refuses the obvious numbers early, with a line number; this
// catches the rest ({{$n := 100000000000}}{{range $n}}, a number field,
// and, or, index, default...) as the template runs.
func guardRanges(t *template.Template) {
	for _, tt := range t.Templates() {
		if tt.Tree == nil || tt.Tree.Root == nil {
			continue
		}
		walk(tt.Tree.Root, func(n parse.Node) {
			if r, ok := n.(*parse.RangeNode); ok && r.Pipe != nil {
				r.Pipe.Cmds = append(r.Pipe.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: r.Pipe.Pos,
					Args: []parse.Node{&parse.IdentifierNode{NodeType: parse.NodeIdentifier, Pos: r.Pipe.Pos, Ident: rangeGuard}}})
			}
		})
	}
}

// overNumber reports whether a range pipeline is a number literal or a
// len call.
func overNumber(p *parse.PipeNode) bool {
	if p == nil || len(p.Cmds) == 0 {
		return false
	}
	cmd := p.Cmds[len(p.Cmds)-1]
	if len(cmd.Args) == 0 {
		return false
	}
	switch a := cmd.Args[0].(type) {
	case *parse.NumberNode:
		return true
	case *parse.IdentifierNode:
		return a.Ident == "len"
	case *parse.PipeNode:
		return overNumber(a)
	}
	return false
}

// where is "line N" for a node.
func where(t *parse.Tree, n parse.Node) string {
	loc, _ := t.ErrorContext(n) // "template:LINE:COL"
	parts := strings.Split(loc, ":")
	if len(parts) >= 3 {
		return "line " + parts[len(parts)-2]
	}
	return loc
}

// walk calls fn on n and every node below it.
func walk(n parse.Node, fn func(parse.Node)) {
	if n == nil || reflect.ValueOf(n).IsNil() { // an absent else, a template call without data
		return
	}
	fn(n)
	switch n := n.(type) {
	case *parse.ListNode:
		for _, c := range n.Nodes {
			walk(c, fn)
		}
	case *parse.ActionNode:
		walk(n.Pipe, fn)
	case *parse.IfNode:
		walkBranch(&n.BranchNode, fn)
	case *parse.RangeNode:
		walkBranch(&n.BranchNode, fn)
	case *parse.WithNode:
		walkBranch(&n.BranchNode, fn)
	case *parse.TemplateNode:
		walk(n.Pipe, fn)
	case *parse.PipeNode:
		for _, c := range n.Cmds {
			walk(c, fn)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			walk(a, fn)
		}
	}
}

func walkBranch(b *parse.BranchNode, fn func(parse.Node)) {
	walk(b.Pipe, fn)
	walk(b.List, fn)
	walk(b.ElseList, fn)
}
