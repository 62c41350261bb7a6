package workflow

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/syndicate-media/syndicate/internal/archive"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/packaging"
	"github.com/syndicate-media/syndicate/internal/transport"
)

// benchAsset is the asset id in a bench archive's manifest: both sides of
// `syndicate bench transfer --archive` must produce the same bytes.
const benchAsset = "bench"

// benchPlan is a package of the given local files, named by their base
// names, with the manifest a bench archive carries.
func benchPlan(sources []string) (domain.Manifest, packaging.Plan, error) {
	m := domain.Manifest{DeliveryID: benchAsset, AssetID: benchAsset, PartnerID: benchAsset, Action: domain.ActionCreate}
	var plan packaging.Plan
	for _, src := range sources {
		fi, err := os.Stat(src)
		if err != nil {
			return m, plan, err
		}
		plan.Files = append(plan.Files, packaging.File{Name: filepath.Base(src), Role: "bench", Size: fi.Size(), Source: src})
	}
	if len(plan.Files) == 0 {
		return m, plan, fmt.Errorf("no files to archive")
	}
	return m, plan, nil
}

// BenchArchive is the archive of kind (tar, tgz, zip) a delivery streams
// for sources, byte for byte as UploadArchive builds it: the bench writes
// it beforehand for the other side to upload.
func BenchArchive(ctx context.Context, kind string, sources []string) (io.ReadCloser, error) {
	if !archive.Valid(kind) {
		return nil, fmt.Errorf("archive %q: want one of %v", kind, archive.Kinds)
	}
	m, plan, err := benchPlan(sources)
	if err != nil {
		return nil, err
	}
	return packageArchive(ctx, kind, m, plan, archiveEntries(plan, false)), nil
}

// UploadArchive sends sources through tr as one archive built while it
// uploads, exactly as a delivery with package.archive does (temporary
// name, sha256 while streaming, size check, rename, then NAME.sha256), and
// returns the archive's sha256 and size.
func UploadArchive(ctx context.Context, log *slog.Logger, tr transport.Transport, name, kind string, sources []string) (string, int64, error) {
	if !archive.Valid(kind) {
		return "", 0, fmt.Errorf("archive %q: want one of %v", kind, archive.Kinds)
	}
	m, plan, err := benchPlan(sources)
	if err != nil {
		return "", 0, err
	}
	s := &sender{log: log, tr: tr, sent: new(atomic.Int64), tag: "bench"}
	sum, n, _, err := s.putArchive(ctx, kind, "", name, m, plan, false)
	return sum, n, err
}
