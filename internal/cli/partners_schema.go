package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/syndicate-media/syndicate/internal/partner"
)

// runPartnersSchema prints the partner profile JSON Schema, for editors
// (a profile's $schema names it) and other tools.
func runPartnersSchema(_ context.Context, env *Env, args []string) error {
	fs := newFlags(env, "partners schema", "partners schema   (prints the JSON Schema of a partner profile)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	_, err := env.Stdout.Write(partner.Schema())
	return err
}

// runPartnersValidate checks profiles locally, without a server: each
// problem on its own line as FILE:LINE:COLUMN: FIELD: MESSAGE, "ok FILE"
// for a good profile, and an error (exit status 1) if any had a problem.
func runPartnersValidate(_ context.Context, env *Env, args []string) error {
	fs := newFlags(env, "partners validate", "partners validate [--secrets] FILE|DIR...   (*.yaml, *.yml, *.json in a DIR)")
	secrets := fs.Bool("secrets", false, "also check that secret references resolve on this machine")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errUsage
	}
	var files []string
	for _, arg := range fs.Args() {
		f, err := profilesIn(arg)
		if err != nil {
			return err
		}
		files = append(files, f...)
	}
	bad := 0
	for _, file := range files {
		if !validateProfile(env, file, *secrets) {
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d profiles have problems", bad, len(files))
	}
	return nil
}

// validateProfile prints file's problems, or "ok FILE"; true if none.
func validateProfile(env *Env, file string, secrets bool) bool {
	b, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintln(env.Stdout, err)
		return false
	}
	p, err := partner.Parse(file, b)
	if err == nil && secrets {
		err = partner.ValidateResolvable(p)
	}
	var pe *partner.Errors
	switch {
	case err == nil:
		fmt.Fprintln(env.Stdout, "ok", file)
		return true
	case errors.As(err, &pe):
		for _, pr := range pe.Problems {
			pr.File = file
			fmt.Fprintln(env.Stdout, pr)
		}
	default:
		fmt.Fprintf(env.Stdout, "%s: %v\n", file, err)
	}
	return false
}

// profilesIn is path itself, or the profiles directly in it if it is a
// directory, sorted.
func profilesIn(path string) ([]string, error) {
	entries, err := os.ReadDir(path)
	if err != nil {
		if fi, serr := os.Stat(path); serr == nil && !fi.IsDir() {
			return []string{path}, nil
		}
		return nil, err
	}
	var out []string
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".yaml", ".yml", ".json":
			if !e.IsDir() {
				out = append(out, filepath.Join(path, e.Name()))
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no *.yaml, *.yml or *.json profiles", path)
	}
	slices.Sort(out)
	return out, nil
}
