package workflow

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/syndicate-media/syndicate/internal/packaging"
)

// A delivery's working files (rendered metadata, transcoded video) live
// in WorkDir/<delivery-id>/ of the process that made them. Step outputs
// record their absolute paths, so a process that resumes the workflow —
// after a restart, or taking over a dead worker — first maps them onto
// its own work folder (workRel, localize), then finds what is missing
// there: with a blob store it fetches it; without one, metadata is
// rendered again and a transcoded video is a clear failure.

// workRel is the path of a delivery's working file relative to its work
// folder, found by the delivery id as a folder name in src (any process's
// work folder); ok is false for a file that is not a working file (the
// catalog's media).
func workRel(deliveryID, src string) (string, bool) {
	sep := string(filepath.Separator)
	_, rel, ok := strings.Cut(src, sep+deliveryID+sep)
	if !ok || rel == "" {
		return "", false
	}
	return rel, true
}

// localize maps the working files among files onto this process's work
// folder, returning a copy.
func (s *steps) localize(deliveryID string, files []packaging.File) []packaging.File {
	out := append([]packaging.File(nil), files...)
	for i, f := range out {
		if rel, ok := workRel(deliveryID, f.Source); ok {
			out[i].Source = filepath.Join(s.workDir, deliveryID, rel)
		}
	}
	return out
}

// missingWork lists the working files among files (already localized)
// that are not on this machine.
func (s *steps) missingWork(deliveryID string, files []packaging.File) []packaging.File {
	var out []packaging.File
	for _, f := range files {
		if _, ok := workRel(deliveryID, f.Source); !ok {
			continue
		}
		if _, err := os.Stat(f.Source); err != nil {
			out = append(out, f)
		}
	}
	return out
}

// fetchWork brings missing working files from the blob store. It fails
// if there is no blob store or any file is not in it.
func (s *steps) fetchWork(ctx context.Context, deliveryID string, missing []packaging.File) error {
	if s.blob == nil {
		return errors.New("no blob store configured (syndicate serve --blob)")
	}
	for _, f := range missing {
		rel, _ := workRel(deliveryID, f.Source)
		if err := s.blob.Fetch(ctx, deliveryID, rel, f.Source); err != nil {
			return err
		}
	}
	s.log.Info("fetched work files from the blob store", "delivery_id", deliveryID, "files", len(missing), "blob", s.blob.String())
	return nil
}

// saveWork copies working files to the blob store, if there is one, so
// that another process can take the delivery over.
func (s *steps) saveWork(ctx context.Context, deliveryID string, files ...packaging.File) error {
	if s.blob == nil {
		return nil
	}
	for _, f := range files {
		rel, ok := workRel(deliveryID, f.Source)
		if !ok {
			continue
		}
		if err := s.blob.Put(ctx, deliveryID, rel, f.Source); err != nil {
			return fmt.Errorf("save %s for a takeover: %w", f.Name, err)
		}
	}
	return nil
}

// pack is the package step: it makes sure a video prepared by another
// process is here, plans and renders the package, and saves the rendered
// files (the video was saved by its own step).
func (s *steps) pack(ctx context.Context, j job, prep packaging.Prepared) (packaging.Plan, error) {
	id := j.Delivery.ID
	if prep.Video != nil {
		v := s.localize(id, []packaging.File{*prep.Video})
		if miss := s.missingWork(id, v); len(miss) > 0 {
			if err := s.fetchWork(ctx, id, miss); err != nil {
				return packaging.Plan{}, fmt.Errorf("the transcoded video %s is not on this machine: %w", prep.Video.Source, err)
			}
		}
		prep.Video = &v[0]
	}
	plan, err := s.build(j, prep)
	if err != nil {
		return plan, err
	}
	var rendered []packaging.File
	for _, f := range plan.Files {
		if prep.Video == nil || f.Source != prep.Video.Source {
			rendered = append(rendered, f)
		}
	}
	return plan, s.saveWork(ctx, id, rendered...)
}

// cleanWork deletes a delivered delivery's working files, here and in the
// blob store, and its commit records. A failure is logged, not returned:
// the delivery is done.
func (s *steps) cleanWork(ctx context.Context, deliveryID string) (int, error) {
	n := 0
	if err := s.store.DeleteCommits(ctx, deliveryID); err != nil {
		s.log.Warn("removing commit records", "delivery_id", deliveryID, "error", err)
	}
	if err := os.RemoveAll(filepath.Join(s.workDir, deliveryID)); err != nil {
		s.log.Warn("removing work files", "delivery_id", deliveryID, "error", err)
	}
	if s.blob != nil {
		var err error
		if n, err = s.blob.Delete(ctx, deliveryID); err != nil {
			s.log.Warn("removing work files from the blob store", "delivery_id", deliveryID, "error", err)
		}
	}
	return n, nil
}
