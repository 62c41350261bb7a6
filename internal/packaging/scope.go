package packaging

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/format"
)

// MetadataOnly keeps only the rendered metadata document: the plan of a
// metadata-only update. The document, rendered by Build, still describes
// every file, as the partner received them earlier.
func (p Plan) MetadataOnly() Plan {
	var out Plan
	for _, f := range p.Files {
		if f.Role == "metadata" {
			out.Files = append(out.Files, f)
		}
	}
	return out
}

// Takedown plans a takedown package for asset a to partner p: the
// format's takedown document alone, under the format's usual file name,
// rendered into workDir. No source file is read.
func Takedown(workDir string, a domain.Asset, p domain.Partner) (Plan, error) {
	fm, err := format.Get(p.Format)
	if err != nil {
		return Plan{}, fmt.Errorf("%w: %w", ErrInvalidPackage, err)
	}
	doc, err := format.RenderTakedown(fm, a, p)
	if err != nil {
		return Plan{}, fmt.Errorf("%w: render %s takedown: %w", ErrInvalidPackage, p.Format, err)
	}
	name := fm.FileName(a, p)
	if err := os.MkdirAll(workDir, 0o750); err != nil {
		return Plan{}, fmt.Errorf("packaging: %w", err)
	}
	src := filepath.Join(workDir, filepath.Base(name))
	if err := os.WriteFile(src, doc, 0o640); err != nil {
		return Plan{}, fmt.Errorf("packaging: write takedown: %w", err)
	}
	plan := Plan{Files: []File{{Name: name, Role: "metadata", Size: int64(len(doc)), Source: src}}}
	return plan, checkNames(plan.Files, false)
}
