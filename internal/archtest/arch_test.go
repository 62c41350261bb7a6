package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// pkg is the part of `go list -json` these tests read.
type pkg struct {
	ImportPath string
	Dir        string
	Name       string
	GoFiles    []string
	CgoFiles   []string
	Imports    []string
	Deps       []string
	Error      *struct{ Err string }
}

var (
	loadOnce sync.Once
	loaded   struct {
		module, root string
		pkgs         map[string]pkg
		err          error
	}
)

// load runs `go list -json ./...` once at the module root, found through
// `go env GOMOD` so the tests do not depend on their working directory.
func load(t *testing.T) (module, root string, pkgs map[string]pkg) {
	t.Helper()
	loadOnce.Do(func() {
		loaded.module, loaded.root, loaded.pkgs, loaded.err = goList()
	})
	if loaded.err != nil {
		t.Fatal(loaded.err)
	}
	return loaded.module, loaded.root, loaded.pkgs
}

func goList() (module, root string, pkgs map[string]pkg, err error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", "", nil, errors.New("go env GOMOD: " + err.Error())
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", "", nil, errors.New("not inside a module")
	}
	root = filepath.Dir(gomod)
	cmd := exec.Command("go", "list", "-e", "-json", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if out, err = cmd.Output(); err != nil {
		return "", "", nil, errors.New("go list: " + err.Error() + ": " + stderr.String())
	}
	c := exec.Command("go", "list", "-m")
	c.Dir = root
	modOut, err := c.Output()
	if err != nil {
		return "", "", nil, errors.New("go list -m: " + err.Error())
	}
	module = strings.TrimSpace(string(modOut))
	pkgs = map[string]pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return "", "", nil, errors.New("decode go list output: " + err.Error())
		}
		pkgs[p.ImportPath] = p
	}
	if len(pkgs) == 0 {
		return "", "", nil, errors.New("go list ./... found no packages")
	}
	return module, root, pkgs, nil
}

// sorted returns the packages' import paths in order, for stable output.
func sorted(pkgs map[string]pkg) []string {
	out := make([]string, 0, len(pkgs))
	for p := range pkgs {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// under reports whether import path p is dir or inside it.
func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

func TestPackageDocs(t *testing.T) {
	_, _, pkgs := load(t)
	for _, path := range sorted(pkgs) {
		p := pkgs[path]
		if p.Error != nil {
			t.Errorf("%s: %s", path, p.Error.Err)
			continue
		}
		files := append(slices.Clone(p.GoFiles), p.CgoFiles...)
		documented := false
		for _, name := range files {
			f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, name), nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if f.Doc == nil {
				continue
			}
			documented = true
			// The go doc convention: "Package x ..." or, for a main
			// package, "Command x ...".
			if text := f.Doc.Text(); !strings.HasPrefix(text, "Package "+p.Name+" ") &&
				!(p.Name == "main" && strings.HasPrefix(text, "Command ")) {
				t.Errorf("package %s: doc comment in %s starts %q, want \"Package %s ...\"", path, name, firstLine(text), p.Name)
			}
		}
		if !documented {
			t.Errorf("package %s has no package doc comment in any non-test file (add a doc.go: // Package %s ...)", path, p.Name)
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func TestDomainImportsOnlyStdlib(t *testing.T) {
	_, root, _ := load(t)
	dir := filepath.Join(root, "internal", "domain")
	// Every non-test file, whatever its build constraints.
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			p, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatal(err)
			}
			if first, _, _ := strings.Cut(p, "/"); strings.Contains(first, ".") {
				t.Errorf("internal/domain/%s imports %s: the domain may import only the standard library", filepath.Base(name), p)
			}
		}
	}
	if checked == 0 {
		t.Fatalf("no non-test Go files in %s", dir)
	}
}

func TestLayering(t *testing.T) {
	module, _, pkgs := load(t)
	in := func(rel string) string { return module + "/" + rel }
	rules := []struct {
		layer     string   // packages at or below this path...
		forbidden []string // ...must not depend on these, directly or not
	}{
		{"internal/transport", []string{"internal/api", "internal/server", "internal/cli", "internal/workflow", "internal/intake", "internal/store"}},
		{"internal/format", []string{"internal/api", "internal/server", "internal/cli", "internal/workflow", "internal/intake", "internal/store"}},
		{"internal/store", []string{"internal/api", "internal/workflow", "internal/intake", "internal/cli"}},
		{"internal/catalog", []string{"internal/api", "internal/server", "internal/cli", "internal/workflow", "internal/intake"}},
	}
	for _, r := range rules {
		matched := 0
		for _, path := range sorted(pkgs) {
			if !under(path, in(r.layer)) {
				continue
			}
			matched++
			// Deps is the full transitive list of non-test imports, so a
			// violation through a helper package is caught too.
			for _, dep := range pkgs[path].Deps {
				for _, f := range r.forbidden {
					if under(dep, in(f)) {
						t.Errorf("%s depends on %s (%s must not import %s)", strings.TrimPrefix(path, module+"/"),
							strings.TrimPrefix(dep, module+"/"), r.layer, f)
					}
				}
			}
		}
		if matched == 0 {
			t.Errorf("no packages under %s: update this rule", r.layer)
		}
	}
}

func TestOnePackagePerTransportFolder(t *testing.T) {
	module, root, pkgs := load(t)
	all, ok := pkgs[module+"/internal/all"]
	if !ok {
		t.Fatal("package internal/all is missing")
	}
	// Conformance suites live beside the plugins but are not plugins;
	// neither are the catalog kinds' shared parts.
	suites := map[string]bool{"transporttest": true, "formattest": true, "mapping": true, "remote": true}
	for _, kind := range []string{"transport", "format", "catalog"} {
		entries, err := os.ReadDir(filepath.Join(root, "internal", kind))
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, e := range entries {
			if !e.IsDir() || suites[e.Name()] || e.Name() == "testdata" {
				continue
			}
			found++
			rel := "internal/" + kind + "/" + e.Name()
			dir := filepath.Join(root, filepath.FromSlash(rel))
			if !callsRegister(t, dir, kind) {
				t.Errorf("%s: no non-test file calls %s.Register(...): each %s registers itself from its own folder", rel, kind, kind)
			}
			if !slices.Contains(all.Imports, module+"/"+rel) {
				t.Errorf("internal/all does not import %s: the binary would not have this %s", rel, kind)
			}
		}
		if found == 0 {
			t.Errorf("no %s folders under internal/%s", kind, kind)
		}
	}
}

// callsRegister reports whether a non-test Go file directly in dir calls
// <pkg>.Register; calls in comments or strings do not count.
func callsRegister(t *testing.T, dir, pkgName string) bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(src, []byte(pkgName+".Register(")) {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return !found
			}
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Register" {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == pkgName {
					found = true
				}
			}
			return !found
		})
		if found {
			return true
		}
	}
	return false
}

// TestChangeIsPure keeps internal/change a pure function of its inputs:
// the standard library and internal/domain only, so every decision rule
// stays a table test.
func TestChangeIsPure(t *testing.T) {
	module, _, pkgs := load(t)
	p, ok := pkgs[module+"/internal/change"]
	if !ok {
		t.Fatal("package internal/change is missing")
	}
	for _, imp := range p.Imports {
		first, _, _ := strings.Cut(imp, "/")
		if strings.Contains(first, ".") && imp != module+"/internal/domain" {
			t.Errorf("internal/change imports %s: only the standard library and internal/domain", imp)
		}
	}
}
