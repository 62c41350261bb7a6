package workflow

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/packaging"
)

// Preview builds the package a delivery of asset a to partner p would
// send, into the folder out, through the same code as a delivery — formats,
// naming, archive, checksums, manifest — but to a local folder instead of
// the partner's destination. It returns where the package is.
func Preview(ctx context.Context, log *slog.Logger, a domain.Asset, p domain.Partner, out string) (string, error) {
	out, err := filepath.Abs(out)
	if err != nil {
		return "", err
	}
	p.Defaults()
	p.Shadow = &domain.Destination{URL: "file://" + out, Path: p.Target().Path}
	d := domain.Delivery{ID: "preview", AssetID: a.ID, AssetVersion: a.Version, PartnerID: p.ID, Action: domain.ActionCreate}
	j := job{Delivery: d, Asset: a, Partner: p}
	work, err := os.MkdirTemp("", "syndicate-preview-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	plan, err := packaging.Build(work, a, p)
	if err != nil {
		return "", err
	}
	res, err := send(ctx, log, nil, j, plan, new(atomic.Int64), resumeState{})
	if err != nil {
		return "", err
	}
	log.Debug("preview", "files", res.Files, "bytes", res.Bytes)
	return filepath.Join(out, p.PackageDir(a.ID, d.ID)), nil
}
